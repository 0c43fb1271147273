// Command bench measures punctual against bare asynq on this machine (see
// package bench, the module it is in) and prints the table; it also writes it to
// bench-results/latest.json.
//
//	cd bench && go run ./cmd/bench [-quick] [-only NAME,...] [-v] [-cpuprofile FILE]
//
// -quick runs smaller counts (a smoke run; its figures are not the
// targets' figures); -only runs those rows; -v prints where the Redis
// commands of a send go, ours against the reference; -cpuprofile writes a CPU profile
// of the bench process, where the rows enqueue and bare asynq's enqueueing
// runs (not of the worker, sandbox and enqueue binaries). It exits 1 when a row
// could not be measured, 0 otherwise, targets missed or not.
package main

import (
	"flag"
	"os"
	"strings"

	"github.com/punctualhq/punctual/bench"
)

func main() {
	if status, ok := bench.Child(os.Args[1:]); ok {
		os.Exit(status)
	}
	quick := flag.Bool("quick", false, "smaller counts, for a smoke run")
	only := flag.String("only", "", "run only these rows, comma-separated: "+strings.Join(bench.Rows(), ", "))
	verbose := flag.Bool("v", false, "print where each row's Redis commands go, ours against the reference")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the bench process to this file")
	flag.Parse()
	os.Exit(bench.Run(bench.Options{Quick: *quick, Only: *only, Verbose: *verbose, CPUProfile: *cpuProfile}))
}
