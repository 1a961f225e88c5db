//go:build !race

package orderstore

// raceDetector reports that the tests run under the race detector.
const raceDetector = false
