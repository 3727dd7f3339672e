package dashboard

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/labstack/echo/v4"
)

// alertOut is an alert as the API and the stream show it: the event and
// its acknowledgement, null until someone acknowledges it.
type alertOut struct {
	geoloc.Event
	AckedBy *string    `json:"acked_by"`
	AckedAt *time.Time `json:"acked_at"`
}

func alertOf(a geoloc.Alert) alertOut {
	out := alertOut{Event: a.Event}
	if a.AckedBy != "" {
		by, at := a.AckedBy, a.AckedAt
		out.AckedBy, out.AckedAt = &by, &at
	}
	return out
}

type alertPage struct {
	Alerts []alertOut `json:"alerts"`
	Next   string     `json:"next"`
}

var alertKinds = []string{geoloc.Enter, geoloc.Exit, geoloc.Dwell, geoloc.Cross, geoloc.Below, geoloc.Above}

func (s *Server) listAlerts(c echo.Context) error {
	q := &query{c: c}
	aq := geoloc.AlertQuery{
		Fence: q.str("fence"), Kind: q.str("type"), Before: q.str("before"),
		From: q.time("from", time.Time{}), To: q.time("to", time.Time{}),
		Limit: q.int("limit", geoloc.DefaultAlertLimit, 1, geoloc.MaxAlertLimit),
	}
	if d := q.str("device"); d != "" {
		aq.Device = d
		if !strings.Contains(d, "@") {
			aq.Device = s.cfg.Accounts.JID(d)
		}
	}
	if aq.Kind != "" && !slices.Contains(alertKinds, aq.Kind) {
		q.fail("type", "%q: want one of %s", aq.Kind, strings.Join(alertKinds, ", "))
	}
	if aq.Before != "" && !geoloc.ValidAlertID(aq.Before) {
		q.fail("before", "%q is not an alert ID (the next of an earlier page)", aq.Before)
	}
	if q.err == nil && !aq.From.IsZero() && !aq.To.IsZero() && aq.From.After(aq.To) {
		q.fail("from", "after to")
	}
	if q.err != nil {
		return q.err
	}
	if v := viewerOf(c); !v.admin {
		aq.Visible = v.seesJID
	}
	alerts, next, err := s.cfg.Geo.QueryAlerts(aq)
	if err != nil {
		return err
	}
	page := alertPage{Alerts: make([]alertOut, len(alerts)), Next: next}
	for i, a := range alerts {
		page.Alerts[i] = alertOf(a)
	}
	return c.JSON(http.StatusOK, page)
}

func (s *Server) ackAlert(c echo.Context) error {
	id := c.Param("id")
	v := viewerOf(c)
	a, err := s.cfg.Geo.Alert(id)
	if errors.Is(err, geoloc.ErrNoAlert) || err == nil && !v.seesJID(a.Device) {
		return apiError(http.StatusNotFound, "no alert %q", id)
	}
	if err != nil {
		return err
	}
	if a, err = s.cfg.Geo.AckAlert(id, v.jid, time.Now()); err != nil {
		if errors.Is(err, geoloc.ErrNoAlert) {
			return apiError(http.StatusNotFound, "no alert %q", id)
		}
		return err
	}
	s.stream.acked(a)
	return c.NoContent(http.StatusNoContent)
}
