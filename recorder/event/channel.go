package event

// ChannelOpen is channel.open: a direct-tcpip channel (ssh -L, ssh -W) was
// opened to a target and its address dialled.
type ChannelOpen struct {
	// Channel is the channel's number within the session, from 1: every
	// channel the client opens, refused or not, takes a number.
	Channel int      `json:"channel"`
	Target  string   `json:"target"` // the target's name
	Roles   []string `json:"roles"`  // the roles on the target the certificate grants and the policy defines
	Port    uint32   `json:"port"`   // the port the client asked for (always the target's)
	Origin  string   `json:"origin"` // the originator host:port the client reported (not verified)
}

// ChannelRefused is channel.refused: a channel open was rejected, and the
// client got the reason in the rejection.
type ChannelRefused struct {
	Channel int    `json:"channel"`
	Type    string `json:"type"`             // the channel type: direct-tcpip, x11, ...
	Host    string `json:"host,omitempty"`   // the destination asked for (a socket path for streamlocal)
	Port    uint32 `json:"port,omitempty"`   // the port asked for
	Origin  string `json:"origin,omitempty"` // the originator host:port the client reported
	Reason  string `json:"reason"`           // e.g. "unknown target", `no grant for target "orders"`
}

// ChannelClose is channel.close: an opened channel ended, recorded before
// session.end also when the connection ends first.
type ChannelClose struct {
	Channel         int    `json:"channel"`
	BytesToTarget   int64  `json:"bytes_to_target"`   // relayed from the client to the target
	BytesFromTarget int64  `json:"bytes_from_target"` // relayed from the target to the client
	Error           string `json:"error"`             // empty when both sides finished cleanly
}

// RequestRefused is request.refused in a session's stream: a request on a
// session channel, or a global request, was refused.
type RequestRefused struct {
	Channel int    `json:"channel,omitempty"` // the session channel; absent for global requests
	Type    string `json:"type"`              // shell, exec, subsystem, pty-req, tcpip-forward, ...
	Detail  string `json:"detail,omitempty"`  // what was asked: the command, the subsystem, ...
	Reason  string `json:"reason"`            // e.g. "running commands is not allowed"
}
