// Package tasks is the wire format between producers and workers: the task
// type strings, the envelope producers submit, the task payload kept in
// Redis, and the handler that turns a due task into a provider request.
//
// Task type strings are stored in Redis with every task: they are never
// renamed. A renamed type would be registered under both names until the
// old tasks have drained.
package tasks
