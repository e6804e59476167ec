package proxy

import "errors"

var (
	// ErrBlocked reports a connection the policy refused: by the rules, or
	// because an allowed name resolved only to refused addresses. The HTTP
	// proxy answers it with 403 and the SOCKS5 proxy with reply 0x02.
	ErrBlocked = errors.New("connection blocked by network allowlist")

	// ErrInvalidPattern reports an allowedDomains or deniedDomains entry that
	// NewRules cannot accept.
	ErrInvalidPattern = errors.New("invalid domain pattern")
)
