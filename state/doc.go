// Package state is what punctual keeps in Redis beside asynq, per task and
// per cancellation group.
//
// Store holds a task's marks (a provider's wait to the microsecond, a
// cancel asked while a worker holds it, an at-most-once request in
// flight, when its account was first missing, the time its window gave
// it), the claim of a queue on the task's idempotency key (Claim), and,
// once its send is made, the record that replaces them all and asynq's
// task (Completion). Groups holds the cancellation groups (Join,
// Begin, Since) and the records of cancelled sends (Cancellation).
//
// Every key is under a hash tag, so that what one script touches is in
// one Cluster slot: a task's keys under its id, a group's under its name,
// a queue's records under the queue's name, beside asynq's own.
package state
