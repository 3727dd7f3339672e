package tracking

import "time"

// dwellSweep is how often devices gone quiet inside a fence are checked
// for their dwell time.
const dwellSweep = 5 * time.Second

func (app *App) sweepDwell() {
	defer close(app.sweepDone)
	t := time.NewTicker(dwellSweep)
	defer t.Stop()
	for {
		select {
		case <-app.sweepStop:
			return
		case now := <-t.C:
			if err := app.geo.SweepDwell(now); err != nil {
				app.log.Error("dwell sweep", "err", err)
			}
		}
	}
}
