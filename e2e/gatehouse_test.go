//go:build servers

package e2e

import "testing"

// TestGatehouse is the first vertical slice end to end: log in at a real
// IdP, tunnel with the real OpenSSH client to a real PostgreSQL, and see
// every refusal refused and recorded. The subtests share one world because
// starting it (PostgreSQL, Dex, gatehouse) is the slow part.
func TestGatehouse(t *testing.T) {
	w := newWorld(t)
	var alice profile
	if !t.Run("login with authorization code and PKCE", func(t *testing.T) { alice = testLoginAuthCode(t, w) }) {
		t.FailNow() // everything below needs alice's certificate
	}
	t.Run("login with the device grant", func(t *testing.T) { testLoginDevice(t, w) })
	t.Run("no grant for the user's groups", func(t *testing.T) { testLoginNoGrant(t, w) })
	t.Run("ssh -L and psql", func(t *testing.T) { testTunnelPsql(t, w, alice) })
	t.Run("ssh -W and pgx", func(t *testing.T) { testSSHW(t, w, alice) })
	t.Run("raw tcp target", func(t *testing.T) { testRawTCP(t, w, alice) })
	t.Run("denial matrix under a read-only role", func(t *testing.T) { testDenialMatrix(t, w, alice) })
	t.Run("psql through the proxy", func(t *testing.T) { testPsqlThroughProxy(t, w, alice) })
	t.Run("pgx through the proxy", func(t *testing.T) { testPgxThroughProxy(t, w, alice) })
	t.Run("bind parameters recorded as the policy says", func(t *testing.T) { testBindParameters(t, w, alice) })
	t.Run("masked results", func(t *testing.T) { testMaskingResults(t, w, alice) })
	t.Run("masking policies", func(t *testing.T) { testMaskingPolicies(t, w, alice) })
	t.Run("masking of RETURNING", func(t *testing.T) { testMaskingWrites(t, w) })
	t.Run("masking bypass attempts", func(t *testing.T) { testMaskingBypasses(t, w, alice) })
	t.Run("masking: names swapped behind gatehouse", func(t *testing.T) { testNamespaceSwaps(t, w, alice) })
	t.Run("pipelines flooded after an error", func(t *testing.T) { testPipelineFloods(t, w, alice) })
	t.Run("syntax errors answered as PostgreSQL would", func(t *testing.T) { testSyntaxErrors(t, w, alice) })
	t.Run("more than 65,535 parameters", func(t *testing.T) { testManyParameters(t, w, alice) })
	t.Run("the backend's real process id", func(t *testing.T) { testRealBackendPID(t, w, alice) })
	t.Run("harmless start-up parameters", func(t *testing.T) { testHarmlessStartupParameters(t, w, alice) })
	t.Run("pgbench through the proxy", func(t *testing.T) { testPgbench(t, w, alice) })
	t.Run("refusals", func(t *testing.T) { testRefusals(t, w, alice) })
	t.Run("ca sign for automation", func(t *testing.T) { testCASign(t, w, alice) })
	t.Run("policy check", func(t *testing.T) { testPolicyCheck(t, w) })
	t.Run("agent certificates", func(t *testing.T) { testAgentCert(t, w, alice) })
	t.Run("revocation ends live sessions", func(t *testing.T) { testRevocation(t, w, alice) })
	t.Run("access requests", func(t *testing.T) { testAccessRequests(t, w) })
	t.Run("an approval expires", func(t *testing.T) { testApprovalExpires(t, w) })
	t.Run("hardening: client strings are clipped in records", func(t *testing.T) { testHardeningDosClip(t, w, alice) })
	t.Run("hardening: unauthenticated connections are throttled", func(t *testing.T) { testHardeningDosThrottle(t, w, alice) })
	t.Run("hardening: masking and statement policy", func(t *testing.T) { testHardeningMasking(t, w, alice) })
	t.Run("hardening: time, identity and the certificate", func(t *testing.T) { testHardeningCerts(t, w, alice) })
	t.Run("hardening: status says a certificate is revoked", func(t *testing.T) { testHardeningDosStatusRevoked(t, w, alice) })
	t.Run("hardening: a cut recording is not recovered as a crash", func(t *testing.T) { testHardeningRecordTruncation(t, w, alice) })
	t.Run("hardening: a 3 MiB statement leaves a readable recording", func(t *testing.T) { testHardeningRecordHugeStatement(t, w, alice) })
	t.Run("hardening: replay and sessions escape terminal controls", func(t *testing.T) { testHardeningRecordTerminal(t, w, alice) })
	t.Run("hardening: a cancel is recorded on both sides", func(t *testing.T) { testHardeningRecordCancel(t, w, alice) })
	t.Run("hardening: search_path in the start-up packet", func(t *testing.T) { testHardeningSearchPathStartup(t, w, alice) })
	t.Run("hardening: SET search_path under masking", func(t *testing.T) { testHardeningSearchPathSet(t, w, alice) })
	t.Run("hardening: masking bypasses under a changed search_path", func(t *testing.T) { testHardeningSearchPathBypasses(t, w, alice) })
	t.Run("hardening: prepared statements run under another search_path", func(t *testing.T) { testHardeningSearchPathPrepared(t, w, alice) })
	t.Run("hardening: database sessions per certificate", func(t *testing.T) { testHardeningSessionLimits(t, w, alice) })
	t.Run("hardening: a crash loses nothing the journal made durable", func(t *testing.T) { testHardeningJournal(t, w, alice) })
	t.Run("hardening: replicas share state in PostgreSQL", func(t *testing.T) { testHardeningState(t, w, alice) })
	t.Run("hardening: the console's index never vouches for an edited recording", func(t *testing.T) { testHardeningIndex(t, w, alice) })
	t.Run("hardening: the relay's message reader", func(t *testing.T) { testHardeningPgread(t, w, alice) })
	t.Run("every recorded chain is intact", func(t *testing.T) { w.checkAllChains(t) })
	t.Run("recordings verify with the published key", func(t *testing.T) { testVerifyWithPublishedKey(t, w) })
}
