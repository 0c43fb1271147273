//go:build race

package credentials_test

// slowdown is how much slower the race detector makes the code: timing
// bounds are scaled by it.
const slowdown = 10
