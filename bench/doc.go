// Package bench measures punctual against bare asynq on this machine. The
// machine may be shared and noisy, so every figure is a ratio against a
// reference measured in the same run, or a count; each row starts its own
// redis-server on a loopback port. The rows about sending run as users
// run: our worker binary, the providers' stand-in (the sandbox binary,
// logging each request it receives) in its own process, and, as the
// reference, plain asynq doing the same HTTP work in a process of its own
// (the bench's binary run as "bench -reference-worker", see Child). Run
// prints a table and writes the same as JSON to bench-results/latest.json
// in the punctual checkout this module sits in (its parent directory). The
// redis-cpu row also says where Redis's work per send goes, command by
// command and script by script, against the reference.
package bench
