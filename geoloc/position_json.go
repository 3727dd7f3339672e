package geoloc

import "github.com/geohub/geohub/internal/jsonw"

// jsonMembers writes p as json.Marshal does (jsonw.Record), without
// reflection: every fix writes its device's latest position, and
// json.Marshal took a tenth of the database writer's time.
func (p *Position) jsonMembers(w *jsonw.Object) {
	w.Str("device", p.Device)
	w.Num("lat", p.Lat)
	w.Num("lon", p.Lon)
	w.Time("time", p.Time)
	w.Time("received", p.Received)
	w.Str("source", p.Source)
	w.B = append(w.B, `,"geoloc":{`...)
	g := &p.Geoloc
	w.OptNum("accuracy", g.Accuracy)
	w.OptNum("alt", g.Alt)
	w.OptNum("altaccuracy", g.AltAccuracy)
	w.OptStr("area", g.Area)
	w.OptNum("bearing", g.Bearing)
	w.OptStr("building", g.Building)
	w.OptStr("country", g.Country)
	w.OptStr("countrycode", g.CountryCode)
	w.OptStr("datum", g.Datum)
	w.OptStr("description", g.Description)
	w.OptStr("floor", g.Floor)
	w.OptNum("lat", g.Lat)
	w.OptStr("locality", g.Locality)
	w.OptNum("lon", g.Lon)
	w.OptStr("postalcode", g.PostalCode)
	w.OptStr("region", g.Region)
	w.OptStr("room", g.Room)
	w.OptNum("speed", g.Speed)
	w.OptStr("street", g.Street)
	w.OptStr("text", g.Text)
	if g.Timestamp != nil {
		w.Time("timestamp", *g.Timestamp)
	}
	w.OptStr("tzo", g.TZO)
	w.OptStr("uri", g.URI)
	w.OptStr("lang", g.Lang)
	w.B = append(w.B, '}')
}
