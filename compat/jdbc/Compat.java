// Compat does what DBeaver and other JDBC tools do on a connection, with
// the PostgreSQL JDBC driver: a currentSchema connection, metadata
// queries, a cursor read with setFetchSize, batch updates, and a prepared
// statement run past the driver's prepareThreshold (server-side prepared
// statements). It prints one line per check, "pass NAME" or
// "fail NAME: why", so that e2e/compat_test.go compares them like tests.
//
// Usage: java -cp postgresql.jar:. Compat JDBC_URL USER PASSWORD
import java.sql.*;
import java.util.*;

public class Compat {
    interface Check {
        void run(Connection c) throws Exception;
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        if (args.length > 2 && !args[2].isEmpty()) {
            props.setProperty("password", args[2]);
        }
        props.setProperty("sslmode", "disable");
        Map<String, Check> checks = new LinkedHashMap<>();
        checks.put("CurrentSchema", Compat::currentSchema);
        checks.put("MetadataGetTables", Compat::getTables);
        checks.put("MetadataGetColumns", Compat::getColumns);
        checks.put("MetadataPrimaryKeysAndIndexes", Compat::keysAndIndexes);
        checks.put("FetchSizeCursor", Compat::fetchSizeCursor);
        checks.put("BatchUpdates", Compat::batchUpdates);
        checks.put("PreparedBatch", Compat::preparedBatch);
        checks.put("ServerPreparedStatement", Compat::serverPrepared);
        for (Map.Entry<String, Check> e : checks.entrySet()) {
            try (Connection c = DriverManager.getConnection(args[0], props)) {
                e.getValue().run(c);
                System.out.println("pass " + e.getKey());
            } catch (Throwable err) {
                String why = String.valueOf(err).replace('\n', ' ');
                System.out.println("fail " + e.getKey() + ": " + why);
            }
        }
    }

    static void require(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException(what);
        }
    }

    // The URL carries currentSchema=compat_jdbc: unqualified names resolve there.
    static void currentSchema(Connection c) throws SQLException {
        require("compat_jdbc".equals(c.getSchema()), "getSchema() = " + c.getSchema());
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT current_schema(), count(*) FROM items")) {
            require(rs.next(), "no row");
            require("compat_jdbc".equals(rs.getString(1)), "current_schema() = " + rs.getString(1));
        }
    }

    static void getTables(Connection c) throws SQLException {
        Set<String> names = new HashSet<>();
        try (ResultSet rs = c.getMetaData().getTables(null, "compat_jdbc", "%", new String[] {"TABLE", "VIEW"})) {
            while (rs.next()) {
                names.add(rs.getString("TABLE_NAME") + ":" + rs.getString("TABLE_TYPE"));
            }
        }
        require(names.contains("items:TABLE") && names.contains("items_view:VIEW"), "tables: " + names);
    }

    static void getColumns(Connection c) throws SQLException {
        List<String> cols = new ArrayList<>();
        try (ResultSet rs = c.getMetaData().getColumns(null, "compat_jdbc", "items", "%")) {
            while (rs.next()) {
                cols.add(rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME") + " " + rs.getString("IS_NULLABLE"));
            }
        }
        require(cols.equals(List.of("id int4 NO", "name text YES", "price numeric YES")), "columns: " + cols);
    }

    static void keysAndIndexes(Connection c) throws SQLException {
        DatabaseMetaData md = c.getMetaData();
        try (ResultSet rs = md.getPrimaryKeys(null, "compat_jdbc", "items")) {
            require(rs.next() && "id".equals(rs.getString("COLUMN_NAME")), "primary key");
        }
        try (ResultSet rs = md.getIndexInfo(null, "compat_jdbc", "items", false, false)) {
            require(rs.next(), "no index");
        }
        try (ResultSet rs = md.getSchemas()) {
            require(rs.next(), "no schema");
        }
    }

    // With autocommit off and a fetch size, the driver reads through a
    // portal, fetchSize rows per Execute (PortalSuspended in between).
    static void fetchSizeCursor(Connection c) throws SQLException {
        c.setAutoCommit(false);
        try (PreparedStatement ps = c.prepareStatement("SELECT g FROM generate_series(1, 1000) g")) {
            ps.setFetchSize(7);
            long sum = 0;
            int n = 0;
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    sum += rs.getLong(1);
                    n++;
                }
            }
            require(n == 1000 && sum == 500500, "rows " + n + " sum " + sum);
        }
        c.commit();
    }

    static void batchUpdates(Connection c) throws SQLException {
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
            s.addBatch("CREATE TEMP TABLE batch_t (id int, v text)");
            s.addBatch("INSERT INTO batch_t VALUES (1, 'a')");
            s.addBatch("INSERT INTO batch_t VALUES (2, 'b'), (3, 'c')");
            s.addBatch("UPDATE batch_t SET v = v || '!'");
            int[] counts = s.executeBatch();
            require(Arrays.equals(counts, new int[] {0, 1, 2, 3}), "counts " + Arrays.toString(counts));
        }
        c.rollback();
    }

    static void preparedBatch(Connection c) throws SQLException {
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
            s.execute("CREATE TEMP TABLE pbatch (id int, v text)");
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO pbatch VALUES (?, ?)")) {
            for (int i = 0; i < 500; i++) {
                ps.setInt(1, i);
                ps.setString(2, "v" + i);
                ps.addBatch();
            }
            int total = Arrays.stream(ps.executeBatch()).sum();
            require(total == 500, "inserted " + total);
        }
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*), sum(id) FROM pbatch")) {
            require(rs.next() && rs.getLong(1) == 500 && rs.getLong(2) == 124750, "count/sum");
        }
        c.rollback();
    }

    // Past prepareThreshold (5) the driver names the statement on the
    // server and binds it again and again.
    static void serverPrepared(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT name FROM items WHERE id = ?")) {
            for (int i = 0; i < 10; i++) {
                ps.setInt(1, 1 + i % 3);
                try (ResultSet rs = ps.executeQuery()) {
                    require(rs.next() && rs.getString(1).equals("item" + (1 + i % 3)), "round " + i);
                }
            }
        }
    }
}
