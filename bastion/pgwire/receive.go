package pgwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgproto3"
)

// clientReader reads the client's messages once start-up is over, as
// pgproto3.Backend.Receive would: the same message types, decoded by
// their own Decode into one value per type that the next Receive reuses.
type clientReader struct {
	msgReader

	bind         pgproto3.Bind
	close        pgproto3.Close
	copyData     pgproto3.CopyData
	copyDone     pgproto3.CopyDone
	copyFail     pgproto3.CopyFail
	describe     pgproto3.Describe
	execute      pgproto3.Execute
	flush        pgproto3.Flush
	functionCall pgproto3.FunctionCall
	parse        pgproto3.Parse
	password     pgproto3.PasswordMessage
	query        pgproto3.Query
	sync         pgproto3.Sync
	terminate    pgproto3.Terminate
}

func newClientReader(r io.Reader, maxBody int) *clientReader {
	c := &clientReader{}
	c.init(r, maxBody)
	return c
}

// receive reads the next message's body, and picks the value it decodes
// into by its type (message; the zero value for an unknown type, which is
// refused before its body is read).
func receive[M interface {
	comparable
	pgproto3.Message
}](r *msgReader, message func(typ byte) M) (M, []byte, error) {
	var none M
	typ, n, err := r.header()
	if err != nil {
		return none, nil, err
	}
	msg := message(typ)
	if msg == none {
		return none, nil, fmt.Errorf("unknown message type: %q", typ) // quoted: the byte is the peer's, and goes on in an error message
	}
	body, err := r.next(n)
	if err != nil {
		return none, nil, err
	}
	return msg, body, nil
}

// Receive reads the next message.
func (c *clientReader) Receive() (pgproto3.FrontendMessage, error) {
	msg, body, err := receive(&c.msgReader, c.message)
	if err == nil {
		err = msg.Decode(body)
	}
	if err != nil {
		return nil, err
	}
	return msg, nil
}

// message is the value a message of type typ decodes into, nil for none.
// 'p' is a password message: pgproto3.Backend, which has seen no
// authentication request, takes it for one too (forward refuses it).
func (c *clientReader) message(typ byte) pgproto3.FrontendMessage {
	switch typ {
	case 'B':
		return &c.bind
	case 'C':
		return &c.close
	case 'D':
		return &c.describe
	case 'E':
		return &c.execute
	case 'F':
		return &c.functionCall
	case 'f':
		return &c.copyFail
	case 'd':
		return &c.copyData
	case 'c':
		return &c.copyDone
	case 'H':
		return &c.flush
	case 'P':
		return &c.parse
	case 'p':
		return &c.password
	case 'Q':
		return &c.query
	case 'S':
		return &c.sync
	case 'X':
		return &c.terminate
	}
	return nil
}

// upstreamReader reads the database's messages in the relay, as
// pgproto3.Frontend.Receive would.
type upstreamReader struct {
	msgReader
	backendMessages
}

// backendMessages holds one value of each message type the database may
// send.
type backendMessages struct {
	authenticationOk                pgproto3.AuthenticationOk
	authenticationCleartextPassword pgproto3.AuthenticationCleartextPassword
	authenticationMD5Password       pgproto3.AuthenticationMD5Password
	authenticationGSS               pgproto3.AuthenticationGSS
	authenticationGSSContinue       pgproto3.AuthenticationGSSContinue
	authenticationSASL              pgproto3.AuthenticationSASL
	authenticationSASLContinue      pgproto3.AuthenticationSASLContinue
	authenticationSASLFinal         pgproto3.AuthenticationSASLFinal
	backendKeyData                  pgproto3.BackendKeyData
	bindComplete                    pgproto3.BindComplete
	closeComplete                   pgproto3.CloseComplete
	commandComplete                 pgproto3.CommandComplete
	copyBothResponse                pgproto3.CopyBothResponse
	copyData                        pgproto3.CopyData
	copyInResponse                  pgproto3.CopyInResponse
	copyOutResponse                 pgproto3.CopyOutResponse
	copyDone                        pgproto3.CopyDone
	dataRow                         pgproto3.DataRow
	emptyQueryResponse              pgproto3.EmptyQueryResponse
	errorResponse                   pgproto3.ErrorResponse
	functionCallResponse            pgproto3.FunctionCallResponse
	noData                          pgproto3.NoData
	noticeResponse                  pgproto3.NoticeResponse
	notificationResponse            pgproto3.NotificationResponse
	parameterDescription            pgproto3.ParameterDescription
	parameterStatus                 pgproto3.ParameterStatus
	parseComplete                   pgproto3.ParseComplete
	readyForQuery                   pgproto3.ReadyForQuery
	rowDescription                  pgproto3.RowDescription
	portalSuspended                 pgproto3.PortalSuspended
	negotiateProtocolVersion        pgproto3.NegotiateProtocolVersion
}

func newUpstreamReader(r io.Reader, maxBody int) *upstreamReader {
	u := &upstreamReader{}
	u.init(r, maxBody)
	return u
}

// Receive reads the next message; replies.answer refuses those that have
// no place in an established session.
func (u *upstreamReader) Receive() (pgproto3.BackendMessage, error) {
	msg, body, err := receive(&u.msgReader, u.message)
	if _, auth := msg.(*pgproto3.AuthenticationOk); auth && err == nil {
		msg, err = u.authentication(body)
	}
	if err == nil {
		err = msg.Decode(body)
	}
	if err != nil {
		return nil, err
	}
	return msg, nil
}

// message is the value a message of type typ decodes into, nil for none.
// For 'R' it is a placeholder: the body says which authentication message.
func (b *backendMessages) message(typ byte) pgproto3.BackendMessage {
	switch typ {
	case '1':
		return &b.parseComplete
	case '2':
		return &b.bindComplete
	case '3':
		return &b.closeComplete
	case 'A':
		return &b.notificationResponse
	case 'c':
		return &b.copyDone
	case 'C':
		return &b.commandComplete
	case 'd':
		return &b.copyData
	case 'D':
		return &b.dataRow
	case 'E':
		return &b.errorResponse
	case 'G':
		return &b.copyInResponse
	case 'H':
		return &b.copyOutResponse
	case 'I':
		return &b.emptyQueryResponse
	case 'K':
		return &b.backendKeyData
	case 'n':
		return &b.noData
	case 'N':
		return &b.noticeResponse
	case 'R':
		return &b.authenticationOk
	case 's':
		return &b.portalSuspended
	case 'S':
		return &b.parameterStatus
	case 't':
		return &b.parameterDescription
	case 'T':
		return &b.rowDescription
	case 'V':
		return &b.functionCallResponse
	case 'W':
		return &b.copyBothResponse
	case 'Z':
		return &b.readyForQuery
	case 'v':
		return &b.negotiateProtocolVersion
	}
	return nil
}

// authentication is the Authentication message whose code (protocol
// §55.7, AuthenticationOk and the rest) begins body, refusing the codes
// pgproto3.Frontend refuses.
func (b *backendMessages) authentication(body []byte) (pgproto3.BackendMessage, error) {
	if len(body) < 4 {
		return nil, errors.New("authentication message too short")
	}
	switch code := binary.BigEndian.Uint32(body); code {
	case pgproto3.AuthTypeOk:
		return &b.authenticationOk, nil
	case pgproto3.AuthTypeCleartextPassword:
		return &b.authenticationCleartextPassword, nil
	case pgproto3.AuthTypeMD5Password:
		return &b.authenticationMD5Password, nil
	case pgproto3.AuthTypeGSS:
		return &b.authenticationGSS, nil
	case pgproto3.AuthTypeGSSCont:
		return &b.authenticationGSSContinue, nil
	case pgproto3.AuthTypeSASL:
		return &b.authenticationSASL, nil
	case pgproto3.AuthTypeSASLContinue:
		return &b.authenticationSASLContinue, nil
	case pgproto3.AuthTypeSASLFinal:
		return &b.authenticationSASLFinal, nil
	default:
		return nil, fmt.Errorf("unsupported authentication type: %d", code)
	}
}
