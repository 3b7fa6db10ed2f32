package bastion

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/bastion/relay"
	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// directTCPIP is the payload of a direct-tcpip channel open (RFC 4254 §7.2).
type directTCPIP struct {
	Host       string
	Port       uint32
	OriginHost string
	OriginPort uint32
}

// forward handles a direct-tcpip channel: ssh -L and ssh -W.
func (cs *connState) forward(nc gossh.NewChannel) {
	ev := event.ChannelRefused{Channel: cs.nextChannel(), Type: clip.Name(nc.ChannelType())}
	var req directTCPIP
	if err := gossh.Unmarshal(nc.ExtraData(), &req); err != nil {
		cs.refuseChannel(nc, ev, gossh.ConnectionFailed, &refusal{
			reason:  "malformed direct-tcpip request: " + err.Error(),
			message: "gatehouse: malformed direct-tcpip request",
		})
		return
	}
	// Host and origin are the client's words: a refused channel records
	// them clipped (an open one names a configured target).
	ev.Host, ev.Port = clip.Name(req.Host), req.Port
	ev.Origin = net.JoinHostPort(clip.Name(req.OriginHost), strconv.FormatUint(uint64(req.OriginPort), 10))
	target, roles, r := cs.route(req.Host, req.Port)
	if r != nil {
		cs.refuseChannel(nc, ev, gossh.Prohibited, r)
		return
	}
	if r := cs.recordingRefusal(); r != nil {
		cs.refuseChannel(nc, ev, gossh.ResourceShortage, r)
		return
	}
	if target.Protocol == "postgres" {
		if cs.opened(nc, event.ChannelOpen{Channel: ev.Channel, Target: req.Host, Roles: roles, Port: req.Port, Origin: ev.Origin}) {
			cs.proxyPostgres(ev.Channel, nc, req.Host, target, roles)
		}
		return
	}
	dialCtx, cancel := context.WithTimeout(cs.ctx, dialTimeout)
	upstream, err := cs.srv.cfg.Dial(dialCtx, "tcp", target.Address)
	cancel()
	if err != nil {
		// The target's address stays out of the client's message.
		cs.refuseChannel(nc, ev, gossh.ConnectionFailed, &refusal{
			reason:  "dial target: " + err.Error(),
			message: fmt.Sprintf("gatehouse: target %q is unreachable", req.Host),
		})
		return
	}
	if !cs.opened(nc, event.ChannelOpen{Channel: ev.Channel, Target: req.Host, Roles: roles, Port: req.Port, Origin: ev.Origin}) {
		upstream.Close()
		return
	}
	cs.relay(ev.Channel, nc, upstream)
}

// opened records channel.open; when that fails the channel is refused.
func (cs *connState) opened(nc gossh.NewChannel, open event.ChannelOpen) bool {
	if cs.record(event.TypeChannelOpen, open) != nil {
		nc.Reject(gossh.ResourceShortage, "gatehouse: the session cannot be recorded, so no channel opens")
		return false
	}
	cs.countForward()
	return true
}

// relay accepts the channel and copies bytes until either side is done,
// then records channel.close.
func (cs *connState) relay(id int, nc gossh.NewChannel, upstream net.Conn) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		upstream.Close()
		_ = cs.record(event.TypeChannelClose, event.ChannelClose{Channel: id, Error: "accept channel: " + err.Error()})
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { gossh.DiscardRequests(reqs) }) // ends when the channel is closed
	stats, err := relay.Relay(cs.ctx, ch, upstream)
	wg.Wait()
	ev := event.ChannelClose{Channel: id, BytesToTarget: stats.AToB, BytesFromTarget: stats.BToA}
	switch {
	case err == nil:
	case cs.ctx.Err() != nil && err == context.Cause(cs.ctx):
		ev.Error = cs.endedBecause()
	default:
		ev.Error = clip.Detail(err.Error())
	}
	_ = cs.record(event.TypeChannelClose, ev)
}

// route decides whether the connection's certificate may reach host:port.
// The host must be a target name; addresses are never dialled on a
// client's say-so.
func (cs *connState) route(host string, port uint32) (*policy.Target, []string, *refusal) {
	cred := cs.credential()
	if cred == nil {
		return nil, nil, &refusal{reason: "not authenticated", message: "gatehouse: not authenticated"}
	}
	// Revocation and expiry are checked again: a connection may outlive
	// its certificate, but every new channel is new access.
	if r := cs.srv.certs.checkCurrent(cred.cert, cs.srv.cfg.Clock()); r != nil {
		return nil, nil, r
	}
	// Every channel gatehouse opens is a port forward: like sshd, it
	// opens none for a certificate that does not permit them.
	if _, ok := cred.cert.Extensions[permitPortForwarding]; !ok {
		return nil, nil, &refusal{
			reason:  "certificate does not permit port forwarding (no " + permitPortForwarding + " extension)",
			message: "gatehouse: your certificate does not permit port forwarding (it has no " + permitPortForwarding + " extension); " + hintRenew,
		}
	}
	pol := cs.srv.cfg.Policy
	grants := strings.Join(cred.cert.ValidPrincipals, ", ")
	target := pol.Target(host)
	switch {
	case target == nil && isAddress(host):
		return nil, nil, &refusal{
			reason:  "destination is an address, not a target name",
			message: fmt.Sprintf("gatehouse: %q is an address; addresses are not allowed, name a target instead (your certificate grants: %s), e.g. %s", host, grants, cs.example()),
		}
	case target == nil:
		return nil, nil, &refusal{
			reason:  "unknown target",
			message: fmt.Sprintf("gatehouse: unknown target %q; name a target your certificate grants (%s)", host, grants),
		}
	}
	roles := grantedRoles(pol, cred.cert, host)
	switch {
	case len(roles) == 0:
		return nil, nil, &refusal{
			reason:  fmt.Sprintf("no grant for target %q", host),
			message: fmt.Sprintf("gatehouse: no grant for target %q (your certificate grants: %s)", host, grants),
		}
	case int(port) != target.Port():
		return nil, nil, &refusal{
			reason:  fmt.Sprintf("port %d is not the target's port %d", port, target.Port()),
			message: fmt.Sprintf("gatehouse: target %q is reached on port %d, not %d, e.g. %s", host, target.Port(), port, exampleCommand(host, target.Port())),
		}
	}
	return target, roles, nil
}

// grantedRoles lists the roles on target that cert's principals grant and
// the policy still defines.
func grantedRoles(pol *policy.Config, cert *gossh.Certificate, target string) []string {
	var roles []string
	for _, s := range cert.ValidPrincipals {
		p, err := policy.ParsePrincipal(s)
		if err == nil && p.Target == target && pol.HasPrincipal(p) && !slices.Contains(roles, p.Role) {
			roles = append(roles, p.Role)
		}
	}
	return roles
}

// isAddress reports whether a destination is an IP address or a host
// name, which target names (letters, digits, '-' and '_') cannot be.
func isAddress(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return strings.ContainsAny(host, ".:[]%")
}

// example is a command that would work with the connection's
// certificate, for messages that tell the client what to do instead.
func (cs *connState) example() string {
	pol := cs.srv.cfg.Policy
	if cred := cs.credential(); cred != nil {
		for _, s := range cred.cert.ValidPrincipals {
			p, err := policy.ParsePrincipal(s)
			if err == nil && pol.HasPrincipal(p) {
				return exampleCommand(p.Target, pol.Target(p.Target).Port())
			}
		}
	}
	return "ssh -N -L 15432:TARGET:PORT gatehouse"
}

func exampleCommand(target string, port int) string {
	local := port
	if local < 10000 {
		local += 10000
	}
	return fmt.Sprintf("ssh -N -L %d:%s:%d gatehouse", local, target, port)
}

// refuseChannel records a refused channel, then tells the client why.
func (cs *connState) refuseChannel(nc gossh.NewChannel, ev event.ChannelRefused, code gossh.RejectionReason, r *refusal) {
	ev.Reason = r.reason
	_ = cs.record(event.TypeChannelRefused, ev)
	_ = nc.Reject(code, r.message)
}
