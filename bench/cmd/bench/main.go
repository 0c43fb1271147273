// Command bench measures punctual against bare asynq on this machine (see
// package bench, the module it is in) and prints the table; it also writes it to
// bench-results/latest.json.
//
//	cd bench && go run ./cmd/bench [-quick] [-only NAME] [-cpuprofile FILE]
//
// -quick runs smaller counts (a smoke run; its figures are not the
// targets' figures); -only runs one row; -cpuprofile writes a CPU profile
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
	only := flag.String("only", "", "run only this row: "+strings.Join(bench.Rows(), ", "))
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the bench process to this file")
	flag.Parse()
	os.Exit(bench.Run(bench.Options{Quick: *quick, Only: *only, CPUProfile: *cpuProfile}))
}
