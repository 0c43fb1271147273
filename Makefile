# The benchmark: figures against bare asynq, in a table and in
# bench-results/latest.json. BENCHFLAGS=-quick for a smoke run, -only NAME for one row
# (or several, comma-separated), -v for where the Redis commands go. The harness is a
# module of its own (bench/), so that the library's go.mod lists none of its dependencies.
.PHONY: bench
bench:
	cd bench && go run ./cmd/bench $(BENCHFLAGS)
