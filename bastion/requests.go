package bastion

import (
	"encoding/binary"
	"fmt"
	"net"
	"strconv"

	gliderssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// channelHandler adapts a connState method to gliderlabs' ChannelHandler
// and counts it as in flight until it returns.
func (s *Server) channelHandler(fn func(*connState, gossh.NewChannel)) gliderssh.ChannelHandler {
	return func(_ *gliderssh.Server, _ *gossh.ServerConn, nc gossh.NewChannel, ctx gliderssh.Context) {
		cs := stateFrom(ctx)
		if cs == nil || !cs.begin() {
			_ = nc.Reject(gossh.ResourceShortage, "gatehouse: the connection is closing")
			return
		}
		defer cs.done()
		fn(cs, nc)
	}
}

// refuseChannelType handles every channel type but direct-tcpip and
// session: x11, forwarded-tcpip, direct-streamlocal@openssh.com, ...
func (cs *connState) refuseChannelType(nc gossh.NewChannel) {
	ev := event.ChannelRefused{Channel: cs.nextChannel(), Type: clip.Name(nc.ChannelType())}
	if ev.Type == "direct-streamlocal@openssh.com" {
		ev.Host = clip.Detail(firstString(nc.ExtraData())) // the socket path
	}
	cs.refuseChannel(nc, ev, gossh.Prohibited, &refusal{
		reason:  "channel type not allowed",
		message: fmt.Sprintf("gatehouse: %s channels are not allowed; gatehouse only forwards to named targets, e.g. %s", ev.Type, cs.example()),
	})
}

// globalRequest is gliderlabs' RequestHandler for every global request.
// None is granted: remote forwarding would let the bastion's side open
// connections into the client, and nothing else is offered.
func (s *Server) globalRequest(ctx gliderssh.Context, _ *gliderssh.Server, req *gossh.Request) (bool, []byte) {
	cs := stateFrom(ctx)
	if cs == nil || !cs.begin() {
		return false, nil
	}
	defer cs.done()
	switch req.Type {
	case "keepalive@openssh.com", "no-more-sessions@openssh.com":
		return false, nil // routine client traffic, not worth a record
	}
	ev := event.RequestRefused{Type: clip.Name(req.Type), Reason: "global request not supported"}
	switch req.Type {
	case "tcpip-forward", "cancel-tcpip-forward":
		// RFC 4254 §7.1: address to bind, port to bind.
		var bind struct {
			Addr string
			Port uint32
		}
		if gossh.Unmarshal(req.Payload, &bind) == nil {
			ev.Detail = clip.Detail(net.JoinHostPort(bind.Addr, strconv.FormatUint(uint64(bind.Port), 10)))
		}
		ev.Reason = "remote port forwarding is not allowed"
	case "streamlocal-forward@openssh.com", "cancel-streamlocal-forward@openssh.com":
		ev.Detail = clip.Detail(firstString(req.Payload))
		ev.Reason = "remote socket forwarding is not allowed"
	}
	_ = cs.record(event.TypeRequestRefused, ev)
	return false, nil
}

// firstString decodes the SSH string (RFC 4251 §5) at the start of b, or
// returns "" if there is none.
func firstString(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return ""
	}
	return string(b[4 : 4+n])
}
