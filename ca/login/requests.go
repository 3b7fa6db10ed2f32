package login

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/ca/sshsig"
)

// RequestOptions configure the access request commands (FileRequest,
// ListRequests, DecideRequest), which act on the authority of the
// profile's certificate: the claims are signed with its key, and the
// groups that count are the certificate's.
type RequestOptions struct {
	// Profile is the engineer's profile; "" means "default". Home ""
	// means os.UserHomeDir().
	Profile, Home string
	// Out receives the text meant for the user; nil discards it.
	Out io.Writer
	// HTTPClient talks to the CA; nil means a 30 second timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// AccessRequest is a request for a grant that requires approval, as the
// CA reports it.
type AccessRequest = caapi.AccessRequest

// FileRequest asks for grant (TARGET:ROLE), which the policy gives only
// on approval, for reason; ttl 0 asks for the approval's max_ttl.
func FileRequest(ctx context.Context, opts RequestOptions, grant, reason string, ttl time.Duration) (*AccessRequest, error) {
	if ttl < 0 {
		return nil, fmt.Errorf("request: negative TTL %v", ttl)
	}
	c := caapi.AccessRequestClaims{Action: caapi.ActionFile, Grant: grant, Reason: reason}
	if ttl > 0 {
		c.TTL = ttl.String()
	}
	ans, o, err := sendRequest(ctx, opts, c)
	if err != nil {
		return nil, err
	}
	if ans.Request == nil {
		return nil, errors.New("request: the CA's answer names no request")
	}
	r := ans.Request
	fmt.Fprintf(o.Out, "Request %s filed for %s; it waits for an approver.\n", r.ID, r.Grant)
	fmt.Fprintf(o.Out, "Once it is approved, run `gatehouse login` for a certificate that carries it.\n")
	return r, nil
}

// ListRequests lists the pending requests the profile's certificate
// filed or may decide.
func ListRequests(ctx context.Context, opts RequestOptions) ([]AccessRequest, error) {
	ans, o, err := sendRequest(ctx, opts, caapi.AccessRequestClaims{Action: caapi.ActionList})
	if err != nil {
		return nil, err
	}
	if len(ans.Requests) == 0 {
		fmt.Fprintln(o.Out, "No pending access requests.")
		return nil, nil
	}
	for _, r := range ans.Requests {
		ttl := r.TTL
		if ttl == "" {
			ttl = "max"
		}
		who := r.Requester.Email
		if who == "" {
			who = r.Requester.Subject
		}
		fmt.Fprintf(o.Out, "%s  %s  %s  ttl %s  filed %s\n    %s\n", r.ID, who, r.Grant, ttl, r.FiledAt.Local().Format(time.DateTime), r.Reason)
	}
	return ans.Requests, nil
}

// DecideRequest approves (approve true) or denies request id, with a
// reason (required to deny).
func DecideRequest(ctx context.Context, opts RequestOptions, id string, approve bool, reason string) (*AccessRequest, error) {
	if id == "" {
		return nil, errors.New("name the request (ID)")
	}
	action := caapi.ActionDeny
	if approve {
		action = caapi.ActionApprove
	}
	ans, o, err := sendRequest(ctx, opts, caapi.AccessRequestClaims{Action: action, ID: id, Reason: reason})
	if err != nil {
		return nil, err
	}
	if ans.Request == nil {
		return nil, errors.New("the CA's answer names no request")
	}
	r := ans.Request
	if approve {
		fmt.Fprintf(o.Out, "Approved %s: %s for %s until %s.\n", r.ID, r.Grant, r.Requester.Email, r.ExpiresAt.Local().Format(time.DateTime))
	} else {
		fmt.Fprintf(o.Out, "Denied %s: %s for %s.\n", r.ID, r.Grant, r.Requester.Email)
	}
	return r, nil
}

// sendRequest signs claims with the profile's key and posts them.
func sendRequest(ctx context.Context, opts RequestOptions, c caapi.AccessRequestClaims) (*caapi.AccessRequestResponse, *RequestOptions, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	eng, err := readEngineer(o.Home, o.Profile, c.Action, o.Now())
	if err != nil {
		return nil, nil, err
	}
	c.CertificateSerial, c.IssuedAt = eng.cert.Serial, o.Now().UTC()
	claims, err := json.Marshal(c)
	if err != nil {
		return nil, nil, fmt.Errorf("encode request: %w", err)
	}
	sig, err := sshsig.Sign(rand.Reader, eng.key, caapi.RequestNamespace, claims)
	if err != nil {
		return nil, nil, fmt.Errorf("sign the request with your key: %w", err)
	}
	server, err := normalizeServer(eng.info.Server)
	if err != nil {
		return nil, nil, fmt.Errorf("the server of your profile: %w; run `gatehouse login --server URL`", err)
	}
	b, err := json.Marshal(newAgentCertRequest(eng.cert, claims, sig))
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+"/v1/access-requests", bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var ans caapi.AccessRequestResponse
	api := &caClient{base: server, http: o.HTTPClient}
	if err := api.do(req, "refused the "+c.Action, &ans); err != nil {
		return nil, nil, err
	}
	return &ans, o, nil
}

func (o RequestOptions) withDefaults() (*RequestOptions, error) {
	var err error
	if o.Profile, err = resolveProfile(o.Profile); err != nil {
		return nil, err
	}
	if o.Home, err = resolveHome(o.Home); err != nil {
		return nil, err
	}
	defaultClientIO(&o.Out, &o.HTTPClient, &o.Now)
	return &o, nil
}
