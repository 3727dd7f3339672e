package tracking

import "time"

// DueSummaries sends the daily summaries due in (last, now].
func (app *App) DueSummaries(last, now time.Time) { app.dueSummaries(last, now) }
