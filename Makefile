# The benchmark: figures against bare asynq, in a table and in
# bench-results/latest.json. BENCHFLAGS=-quick for a smoke run, -only NAME for one row.
.PHONY: bench
bench:
	go run ./cmd/bench $(BENCHFLAGS)
