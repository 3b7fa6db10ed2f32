package sqlclass

// The statement kinds, as the configuration contract names them
// (DESIGN.md, "Statement kinds used by allow/deny"). policy.StatementKinds
// holds the same list plus "all"; a test keeps the two in step.
const (
	kindSelect        = "select"
	kindInsert        = "insert"
	kindUpdate        = "update"
	kindDelete        = "delete"
	kindMerge         = "merge"
	kindCopyFrom      = "copy_from"
	kindCopyTo        = "copy_to"
	kindDDL           = "ddl"
	kindTruncate      = "truncate"
	kindGrant         = "grant"
	kindExplain       = "explain"
	kindShow          = "show"
	kindSet           = "set"
	kindTransaction   = "transaction"
	kindCall          = "call"
	kindDo            = "do"
	kindPrepare       = "prepare"
	kindExecute       = "execute"
	kindListenNotify  = "listen_notify"
	kindVacuumAnalyze = "vacuum_analyze"
	kindDropDatabase  = "drop_database"
	kindAlterSystem   = "alter_system"
	kindSetRole       = "set_role"
	kindOther         = "other"
)

// nodeKinds maps a parse-tree message (by its protobuf name) to the kinds
// it does by itself, wherever it appears in a statement. Statements the
// walker judges by their contents (SELECT, INSERT, UPDATE, DELETE, MERGE,
// COPY, EXPLAIN, SET, DROP, DISCARD, PREPARE, EXECUTE, and BEGIN, COMMIT and
// the other transaction statements) are handled in walk.go instead. A
// statement type found in neither place is "other" when it is the whole
// statement: LOCK, LOAD, CHECKPOINT are deliberately so, as they fit no
// kind and are refused unless a policy allows "other".
var nodeKinds = map[string][]string{
	// Rows leave through a cursor declared for a query judged when it
	// was declared; DECLARE itself does only what its query does.
	"DeclareCursorStmt": {},
	"FetchStmt":         {kindSelect},
	"ClosePortalStmt":   {kindSelect},

	"TruncateStmt":       {kindTruncate},
	"VariableShowStmt":   {kindShow},
	"ConstraintsSetStmt": {kindSet},
	"CallStmt":           {kindCall},
	"DoStmt":             {kindDo},
	"DeallocateStmt":     {kindPrepare},
	"ListenStmt":         {kindListenNotify},
	"UnlistenStmt":       {kindListenNotify},
	"NotifyStmt":         {kindListenNotify},
	"VacuumStmt":         {kindVacuumAnalyze},
	"DropdbStmt":         {kindDropDatabase},
	"AlterSystemStmt":    {kindAlterSystem},

	"GrantStmt":                  {kindGrant},
	"GrantRoleStmt":              {kindGrant},
	"AlterDefaultPrivilegesStmt": {kindGrant},
	// Roles are catalog objects and carry privileges (SUPERUSER,
	// CREATEROLE, membership): creating or changing one needs both kinds.
	"CreateRoleStmt":    {kindDDL, kindGrant},
	"AlterRoleStmt":     {kindDDL, kindGrant},
	"AlterRoleSetStmt":  {kindDDL, kindGrant},
	"DropRoleStmt":      {kindDDL, kindGrant},
	"DropOwnedStmt":     {kindDDL, kindGrant},
	"ReassignOwnedStmt": {kindDDL, kindGrant},

	// CREATE TABLE AS and CREATE MATERIALIZED VIEW also run their query,
	// whose kinds the walker adds.
	"CreateTableAsStmt":  {kindDDL},
	"RefreshMatViewStmt": {kindDDL},

	"CreateSchemaStmt":             {kindDDL},
	"AlterTableStmt":               {kindDDL},
	"ReplicaIdentityStmt":          {kindDDL},
	"AlterCollationStmt":           {kindDDL},
	"AlterDomainStmt":              {kindDDL},
	"CreateStmt":                   {kindDDL},
	"CreateTableSpaceStmt":         {kindDDL},
	"DropTableSpaceStmt":           {kindDDL},
	"AlterTableSpaceOptionsStmt":   {kindDDL},
	"AlterTableMoveAllStmt":        {kindDDL},
	"CreateExtensionStmt":          {kindDDL},
	"AlterExtensionStmt":           {kindDDL},
	"AlterExtensionContentsStmt":   {kindDDL},
	"CreateFdwStmt":                {kindDDL},
	"AlterFdwStmt":                 {kindDDL},
	"CreateForeignServerStmt":      {kindDDL},
	"AlterForeignServerStmt":       {kindDDL},
	"CreateForeignTableStmt":       {kindDDL},
	"CreateUserMappingStmt":        {kindDDL},
	"AlterUserMappingStmt":         {kindDDL},
	"DropUserMappingStmt":          {kindDDL},
	"ImportForeignSchemaStmt":      {kindDDL},
	"CreatePolicyStmt":             {kindDDL},
	"AlterPolicyStmt":              {kindDDL},
	"CreateAmStmt":                 {kindDDL},
	"CreateTrigStmt":               {kindDDL},
	"CreateEventTrigStmt":          {kindDDL},
	"AlterEventTrigStmt":           {kindDDL},
	"CreatePLangStmt":              {kindDDL},
	"CreateSeqStmt":                {kindDDL},
	"AlterSeqStmt":                 {kindDDL},
	"DefineStmt":                   {kindDDL},
	"CreateDomainStmt":             {kindDDL},
	"CreateOpClassStmt":            {kindDDL},
	"CreateOpFamilyStmt":           {kindDDL},
	"AlterOpFamilyStmt":            {kindDDL},
	"CommentStmt":                  {kindDDL},
	"SecLabelStmt":                 {kindDDL},
	"IndexStmt":                    {kindDDL},
	"CreateStatsStmt":              {kindDDL},
	"AlterStatsStmt":               {kindDDL},
	"CreateFunctionStmt":           {kindDDL},
	"AlterFunctionStmt":            {kindDDL},
	"RenameStmt":                   {kindDDL},
	"AlterObjectDependsStmt":       {kindDDL},
	"AlterObjectSchemaStmt":        {kindDDL},
	"AlterOwnerStmt":               {kindDDL},
	"AlterOperatorStmt":            {kindDDL},
	"AlterTypeStmt":                {kindDDL},
	"RuleStmt":                     {kindDDL},
	"CompositeTypeStmt":            {kindDDL},
	"CreateEnumStmt":               {kindDDL},
	"CreateRangeStmt":              {kindDDL},
	"AlterEnumStmt":                {kindDDL},
	"ViewStmt":                     {kindDDL},
	"CreatedbStmt":                 {kindDDL},
	"AlterDatabaseStmt":            {kindDDL},
	"AlterDatabaseRefreshCollStmt": {kindDDL},
	"AlterDatabaseSetStmt":         {kindDDL},
	"ClusterStmt":                  {kindDDL},
	"ReindexStmt":                  {kindDDL},
	"CreateConversionStmt":         {kindDDL},
	"CreateCastStmt":               {kindDDL},
	"CreateTransformStmt":          {kindDDL},
	"AlterTSDictionaryStmt":        {kindDDL},
	"AlterTSConfigurationStmt":     {kindDDL},
	"CreatePublicationStmt":        {kindDDL},
	"AlterPublicationStmt":         {kindDDL},
	"CreateSubscriptionStmt":       {kindDDL},
	"AlterSubscriptionStmt":        {kindDDL},
	"DropSubscriptionStmt":         {kindDDL},
}
