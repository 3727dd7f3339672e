package hub

// errPasswordChanged ends the streams of an account whose password was
// changed. RFC 6120 §4.9.3.16 gives <reset/> for a stream whose security
// context (TLS, and SASL) was revoked during its life, after which
// "authentication needs to be negotiated again": the client may reconnect,
// and only the new password logs it in. <not-authorized/> (§4.9.3.12)
// is for data sent before or outside authentication, and stays with the
// removal of an account (errAccountRemoved), which no new login can mend.
var errPasswordChanged = streamErr{"reset", "the password of this account was changed: log in again"}

// passwordChanged ends every session of the account name, over every
// transport: a password reset locks out whoever held the old one.
func (s *Server) passwordChanged(name string) {
	sessions := s.router.sessions(name)
	for _, ss := range sessions {
		ss.closeWithError(errPasswordChanged)
	}
	if len(sessions) > 0 {
		s.log.Info("password changed: sessions ended", "account", name, "sessions", len(sessions))
	}
}
