package pubsub

// ReadAccess says whether the bare JID who may read the items of node at
// service (Host, or an account's bare JID for PEP) as an items request
// would: nil, or the error such a request gets (item-not-found for a node
// that does not exist). The hub asks it before answering a MAM query on a
// node (XEP-0313) from the node's history.
func (s *Service) ReadAccess(service, node, who string) *Error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := s.node(service, node)
	if n == nil {
		return errItemNotFound.with("no such node")
	}
	return s.canRead(n, who)
}

// Refuse builds the error reply to r carrying e.
func (r *Request) Refuse(e *Error) []byte { return r.error(e) }
