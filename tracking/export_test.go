package tracking

// HoldDelivery gives the apps started from now on an alert queue of queue
// batches and a delivery goroutine that runs hold before each batch. It
// returns the function that restores the defaults; call it once those apps
// have stopped.
func HoldDelivery(queue int, hold func()) (restore func()) {
	oldQueue, oldHold := alertQueue, holdDelivery
	alertQueue, holdDelivery = queue, hold
	return func() { alertQueue, holdDelivery = oldQueue, oldHold }
}
