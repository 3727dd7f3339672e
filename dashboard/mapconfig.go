package dashboard

import "fmt"

// mapTiles is the street map the dashboard shows, and the
// Content-Security-Policy that admits its tile server. SetMap replaces it
// while the server runs (SIGHUP).
type mapTiles struct {
	url, attribution string
	csp              string
}

func newMapTiles(url, attribution string) *mapTiles {
	return &mapTiles{url: url, attribution: attribution, csp: contentPolicy(url)}
}

// SetMap makes the dashboard show url's tiles with attribution (an empty
// url: the offline world map only) from the next page load on.
func (s *Server) SetMap(url, attribution string) error {
	if err := CheckTileURL(url); err != nil {
		return fmt.Errorf("map tiles %q: %w", url, err)
	}
	s.tiles.Store(newMapTiles(url, attribution))
	return nil
}

// mapNow is the map in force.
func (s *Server) mapNow() *mapTiles { return s.tiles.Load() }
