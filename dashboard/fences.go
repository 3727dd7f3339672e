package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/store"
	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb/geojson"
)

// Operators and fences: an operator reads a fence that concerns them (it
// notifies them, watches every device, or names one of their devices or
// groups). An operator may create, replace and delete a fence that is
// wholly theirs: it names devices or groups (not every device), each device
// one they see and each group one they are in, near and near_groups alike;
// and whom it notifies is themselves, admins, or operators for whom it is
// wholly theirs as well, so that nobody learns of devices they may not see.

// fenceVisible reports whether v may read f.
func fenceVisible(v *viewer, f *geoloc.Fence) bool {
	if v.admin || slices.Contains(f.Notify, v.jid) || len(f.Devices) == 0 && len(f.Groups) == 0 {
		return true
	}
	return slices.ContainsFunc(f.Devices, v.seesJID) || slices.ContainsFunc(f.Near, v.seesJID) ||
		slices.ContainsFunc(f.Groups, v.inGroup) || slices.ContainsFunc(f.NearGroups, v.inGroup)
}

// fenceOwned says why f is not wholly v's (see above), or nil when it is.
func fenceOwned(v *viewer, f *geoloc.Fence) error {
	if v.admin {
		return nil
	}
	if len(f.Devices) == 0 && len(f.Groups) == 0 {
		return errors.New("it watches every device: name devices or groups of yours")
	}
	for _, d := range append(slices.Clone(f.Devices), f.Near...) {
		if !v.seesJID(d) {
			return fmt.Errorf("%s is not a device of your groups", d)
		}
	}
	for _, g := range append(slices.Clone(f.Groups), f.NearGroups...) {
		if !v.inGroup(g) {
			return fmt.Errorf("you are not in group %q", g)
		}
	}
	return nil
}

// forbidden is a check failure that answers 403, not 400.
type forbidden struct{ err error }

func (f *forbidden) Error() string { return f.err.Error() }

// fenceLimits is what the API checks of fences v writes beyond what every
// way of adding one checks: for operators, that the fence is wholly theirs.
func (s *Server) fenceLimits(v *viewer) func(*geoloc.Fence) error {
	return func(f *geoloc.Fence) error {
		if v.admin {
			return nil
		}
		if err := fenceOwned(v, f); err != nil {
			return &forbidden{err}
		}
		for _, n := range f.Notify {
			if n == v.jid {
				continue
			}
			local, _, _ := strings.Cut(n, "@")
			a, ok := s.cfg.Accounts.Get(local)
			if !ok {
				return fmt.Errorf("notify: %s: %w", n, devices.ErrNotFound)
			}
			if err := fenceOwned(s.newViewer(a), f); err != nil {
				return &forbidden{fmt.Errorf("notify %s: for them %v", n, err)}
			}
		}
		return nil
	}
}

// fenceError maps the errors of AddFences and the checks to answers.
func fenceError(err error) error {
	var fb *forbidden
	switch {
	case errors.As(err, &fb):
		return apiError(http.StatusForbidden, "%v", err)
	case errors.Is(err, geoloc.ErrNoFence):
		return apiError(http.StatusNotFound, "%v", err)
	case errors.Is(err, store.ErrUnwritable):
		return err // 507
	}
	return apiError(http.StatusBadRequest, "%v", err)
}

func fenceCollection(fences []*geoloc.Fence) *geojson.FeatureCollection {
	fc := geojson.NewFeatureCollection()
	for _, f := range fences {
		fc.Append(f.Feature())
	}
	return fc
}

func (s *Server) listFences(c echo.Context) error {
	v := viewerOf(c)
	var out []*geoloc.Fence
	for _, f := range s.cfg.Geo.Fences() {
		if fenceVisible(v, f) {
			out = append(out, f)
		}
	}
	return c.JSON(http.StatusOK, fenceCollection(out))
}

// visibleFence returns the fence named in the path, or 404 when there is
// none or the viewer may not read it.
func (s *Server) visibleFence(c echo.Context) (*geoloc.Fence, error) {
	id := c.Param("id")
	f, ok := s.cfg.Geo.Fence(id)
	if !ok || !fenceVisible(viewerOf(c), f) {
		return nil, apiError(http.StatusNotFound, "no fence %q", id)
	}
	return f, nil
}

func (s *Server) getFence(c echo.Context) error {
	f, err := s.visibleFence(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, f.Feature())
}

// maxFenceBody bounds a fence upload: 5000 vertices per fence fit many
// times over.
const maxFenceBody = 8 << 20

func (s *Server) createFences(c echo.Context) error {
	b, err := readBody(c, maxFenceBody)
	if err != nil {
		return err
	}
	fences, err := geoloc.ParseFences(b)
	if err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	for _, f := range fences {
		if f.ID == "" {
			continue
		}
		if _, exists := s.cfg.Geo.Fence(f.ID); exists {
			return apiError(http.StatusConflict, "fence %q exists: replace it with PUT /api/fences/%s", f.ID, f.ID)
		}
	}
	v := viewerOf(c)
	stored, err := s.ops.AddFences(fences, s.fenceLimits(v))
	if err != nil {
		return fenceError(err)
	}
	s.log.Info("fences added", "count", len(stored), "by", v.acct.Name)
	return c.JSON(http.StatusCreated, fenceCollection(stored))
}

func (s *Server) replaceFence(c echo.Context) error {
	old, err := s.visibleFence(c)
	if err != nil {
		return err
	}
	v := viewerOf(c)
	if err := fenceOwned(v, old); err != nil {
		return apiError(http.StatusForbidden, "fence %q is not yours to change: %v", old.ID, err)
	}
	b, err := readBody(c, maxFenceBody)
	if err != nil {
		return err
	}
	fences, err := geoloc.ParseFences(b)
	if err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	if len(fences) != 1 {
		return apiError(http.StatusBadRequest, "send one fence (a Feature), not %d", len(fences))
	}
	f := fences[0]
	if f.ID != "" && f.ID != old.ID {
		return apiError(http.StatusBadRequest, "id: the body says %q, the path %q", f.ID, old.ID)
	}
	f.ID = old.ID
	stored, err := s.ops.AddFences(fences, s.fenceLimits(v))
	if err != nil {
		return fenceError(err)
	}
	return c.JSON(http.StatusOK, stored[0].Feature())
}

func (s *Server) deleteFence(c echo.Context) error {
	f, err := s.visibleFence(c)
	if err != nil {
		return err
	}
	if err := fenceOwned(viewerOf(c), f); err != nil {
		return apiError(http.StatusForbidden, "fence %q is not yours to delete: %v", f.ID, err)
	}
	if err := s.ops.RemoveFences(f.ID); err != nil {
		return fenceError(err)
	}
	return c.NoContent(http.StatusNoContent)
}
