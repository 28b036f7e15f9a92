package main

// minFDs is the descriptor limit below which socktop refuses to start.
// With fewer, the Go runtime dies with a fatal error (eventfd failed) when
// it sets up its poller, or the first dump fails with EMFILE; a one-shot
// table needs about ten descriptors, and the margin is for the live view
// and the demos.
const minFDs = 16
