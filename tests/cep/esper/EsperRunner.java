// Differential-test oracle: runs EPL rules through real Esper 8 (black box) and prints
// every output row as {"time","statement","kind","row"} JSON lines, the format of
// `squall epl run`. Esper is downloaded at test time only (tests/cep/esper/conftest.py);
// this file is our own code and uses only Esper's public client API.
//
// Two modes:
//   java EsperRunner RULE_FILE EVENTS_FILE TYPE TIME_FIELD PROPS_JSON
//       PROPS_JSON: {"carNumber": "string", "speed": "double", "ts": "long"}
//   java EsperRunner --serve
//       reads one JSON request per stdin line:
//       {"rules": "...", "type": "T", "timeField": "ts", "props": {...}, "events": [{...}, ...],
//        "advance": "time"|"span", "types": {"U": {...}, ...}, "typeField": "type"}
//       ("types" and "typeField" optional: several event types, each event's type named by
//       its typeField, else "type"; an "event" {"$set": {"name": value, ...}} sets those
//       variables through the runtime API (EPVariableService.setVariableValue) instead, at
//       the current time: a JSON integer is an Integer for an int variable, else a Long)
//       and answers with the output lines followed by {"done": true, "error": null|"..."}.
//
// Time: external timer; engine time starts at 0 (statements deployed at 0, like the
// squall CLI's ExternalClock(0)); before each event time advances to the event's time
// field (never backwards) with advanceTime (default) or advanceTimeSpan ("advance":
// "span"); after the last event time advances 10 days with advanceTimeSpan, so every
// due batch end fires in order, each at its own time.

import com.espertech.esper.common.client.EPCompiled;
import com.espertech.esper.common.client.EventBean;
import com.espertech.esper.common.client.configuration.Configuration;
import com.espertech.esper.compiler.client.CompilerArguments;
import com.espertech.esper.compiler.client.EPCompilerProvider;
import com.espertech.esper.runtime.client.EPDeployment;
import com.espertech.esper.runtime.client.EPRuntime;
import com.espertech.esper.runtime.client.EPRuntimeProvider;
import com.espertech.esper.runtime.client.EPStatement;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public class EsperRunner {
    static final long END_JUMP_MS = 10L * 24 * 3600 * 1000;
    static int runtimeCounter = 0;

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, false, "UTF-8");
        if (args.length == 1 && args[0].equals("--serve")) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                if (line.trim().isEmpty()) continue;
                String error = null;
                try {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> req = (Map<String, Object>) Json.parse(line);
                    @SuppressWarnings("unchecked")
                    Map<String, Object> props = (Map<String, Object>) req.get("props");
                    @SuppressWarnings("unchecked")
                    List<Object> events = (List<Object>) req.get("events");
                    Object adv = req.get("advance");
                    @SuppressWarnings("unchecked")
                    Map<String, Object> types = (Map<String, Object>) req.get("types");
                    run((String) req.get("rules"), (String) req.get("type"), (String) req.get("timeField"),
                        props, events, "span".equals(adv), out, types, (String) req.get("typeField"));
                } catch (Throwable t) {
                    error = t.toString();
                    Throwable c = t.getCause();
                    while (c != null) { error += " / caused by: " + c; c = c.getCause(); }
                }
                Map<String, Object> done = new LinkedHashMap<>();
                done.put("done", Boolean.TRUE);
                done.put("error", error);
                out.println(Json.write(done));
                out.flush();
            }
            return;
        }
        if (args.length != 5) {
            System.err.println("usage: EsperRunner RULE_FILE EVENTS_FILE TYPE TIME_FIELD PROPS_JSON | --serve");
            System.exit(2);
        }
        String rules = new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8);
        List<Object> events = new ArrayList<>();
        for (String l : Files.readAllLines(Paths.get(args[1]), StandardCharsets.UTF_8)) {
            if (!l.trim().isEmpty()) events.add(Json.parse(l));
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> props = (Map<String, Object>) Json.parse(args[4]);
        run(rules, args[2], args[3], props, events, false, out, null, null);
        out.flush();
    }

    static Class<?> javaType(String t) {
        switch (t.toLowerCase()) {
            case "string": return String.class;
            case "double": return Double.class;
            case "float": return Float.class;
            case "long": return Long.class;
            case "int": case "integer": return Integer.class;
            case "boolean": return Boolean.class;
            default: throw new IllegalArgumentException("unknown property type " + t);
        }
    }

    static Object convert(Object v, Class<?> c) {
        if (v == null || !(v instanceof Number)) return v;
        Number n = (Number) v;
        if (c == Double.class) return n.doubleValue();
        if (c == Float.class) return n.floatValue();
        if (c == Long.class) return n.longValue();
        if (c == Integer.class) return n.intValue();
        return v;
    }

    // types: optional {"TypeName": {prop: type}} for several event types (props is then the
    // default type's, unless types names it too); typeField: the event field naming its type
    // (events without it are of the default type).
    static void run(String rules, String type, String timeField, Map<String, Object> props,
                    List<Object> events, boolean spanPerEvent, PrintStream out,
                    Map<String, Object> types, String typeField) throws Exception {
        Configuration config = new Configuration();
        config.getRuntime().getThreading().setInternalTimerEnabled(false);
        Map<String, Map<String, Object>> allTypes = new LinkedHashMap<>();
        allTypes.put(type, props);
        if (types != null) {
            for (Map.Entry<String, Object> t : types.entrySet()) {
                @SuppressWarnings("unchecked")
                Map<String, Object> tp = (Map<String, Object>) t.getValue();
                allTypes.put(t.getKey(), tp);
            }
        }
        Map<String, Map<String, Class<?>>> classesByType = new LinkedHashMap<>();
        for (Map.Entry<String, Map<String, Object>> t : allTypes.entrySet()) {
            Map<String, Object> typeDef = new LinkedHashMap<>();
            Map<String, Class<?>> cls = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : t.getValue().entrySet()) {
                Class<?> c = javaType((String) e.getValue());
                typeDef.put(e.getKey(), c);
                cls.put(e.getKey(), c);
            }
            config.getCommon().addEventType(t.getKey(), typeDef);
            classesByType.put(t.getKey(), cls);
        }
        EPRuntime runtime = EPRuntimeProvider.getRuntime("squall-oracle-" + (runtimeCounter++), config);
        try {
            runtime.getEventService().advanceTime(0);
            EPCompiled compiled = EPCompilerProvider.getCompiler().compile(rules, new CompilerArguments(config));
            EPDeployment dep = runtime.getDeploymentService().deploy(compiled);
            EPStatement[] stmts = dep.getStatements();
            for (int i = 0; i < stmts.length; i++) {
                final int index = i;
                final EPStatement st = stmts[i];
                final String[] names = st.getEventType().getPropertyNames();
                st.addListener((newEvents, oldEvents, statement, rt) -> {
                    long now = rt.getEventService().getCurrentTime();
                    emit(out, now, index, "insert", newEvents, names);
                    emit(out, now, index, "remove", oldEvents, names);
                });
            }
            boolean started = false;
            for (Object o : events) {
                @SuppressWarnings("unchecked")
                Map<String, Object> ev = (Map<String, Object>) o;
                if (ev.containsKey("$set")) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> sets = (Map<String, Object>) ev.get("$set");
                    setVariables(runtime, dep, sets);
                    continue;
                }
                long ts = ((Number) ev.get(timeField)).longValue();
                long now = runtime.getEventService().getCurrentTime();
                if (!started || ts > now) {
                    if (spanPerEvent) runtime.getEventService().advanceTimeSpan(ts);
                    else runtime.getEventService().advanceTime(ts);
                    started = true;
                }
                String evType = type;
                if (typeField != null && ev.get(typeField) != null) evType = ev.get(typeField).toString();
                Map<String, Class<?>> classes = classesByType.get(evType);
                if (classes == null) throw new IllegalArgumentException("event of undeclared type " + evType);
                Map<String, Object> m = new LinkedHashMap<>();
                for (Map.Entry<String, Object> e : ev.entrySet()) {
                    Class<?> c = classes.get(e.getKey());
                    m.put(e.getKey(), c == null ? e.getValue() : convert(e.getValue(), c));
                }
                runtime.getEventService().sendEventMap(m, evType);
            }
            if (started) {
                runtime.getEventService().advanceTimeSpan(runtime.getEventService().getCurrentTime() + END_JUMP_MS);
            }
        } finally {
            runtime.destroy();
        }
    }

    // The variable's type from its create-variable statement (a property named after it).
    static void setVariables(EPRuntime runtime, EPDeployment dep, Map<String, Object> sets) {
        for (Map.Entry<String, Object> e : sets.entrySet()) {
            Object v = e.getValue();
            if (v instanceof Long) {
                for (EPStatement st : dep.getStatements()) {
                    Class<?> t = st.getEventType().getPropertyType(e.getKey());
                    if ((t == Integer.class || t == int.class) && st.getEventType().getPropertyNames().length == 1) {
                        v = ((Long) v).intValue();
                    }
                }
            }
            runtime.getVariableService().setVariableValue(dep.getDeploymentId(), e.getKey(), v);
        }
    }

    static void emit(PrintStream out, long now, int index, String kind, EventBean[] beans, String[] names) {
        if (beans == null) return;
        for (EventBean b : beans) {
            Map<String, Object> row = new LinkedHashMap<>();
            for (String n : names) row.put(n, b.get(n));
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("time", now);
            line.put("statement", index);
            line.put("kind", kind);
            line.put("row", row);
            out.println(Json.write(line));
        }
    }

    /** Minimal JSON reader/writer: objects, arrays, strings, numbers, true/false/null. */
    static final class Json {
        private final String s;
        private int i;

        private Json(String s) { this.s = s; }

        static Object parse(String text) {
            Json p = new Json(text);
            p.ws();
            Object v = p.value();
            p.ws();
            if (p.i != p.s.length()) throw new IllegalArgumentException("trailing JSON text at " + p.i);
            return v;
        }

        private void ws() { while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++; }

        private Object value() {
            char c = s.charAt(i);
            if (c == '{') {
                i++;
                Map<String, Object> m = new LinkedHashMap<>();
                ws();
                if (s.charAt(i) == '}') { i++; return m; }
                while (true) {
                    ws();
                    String k = string();
                    ws();
                    expect(':');
                    ws();
                    m.put(k, value());
                    ws();
                    if (s.charAt(i) == ',') { i++; continue; }
                    expect('}');
                    return m;
                }
            }
            if (c == '[') {
                i++;
                List<Object> l = new ArrayList<>();
                ws();
                if (s.charAt(i) == ']') { i++; return l; }
                while (true) {
                    ws();
                    l.add(value());
                    ws();
                    if (s.charAt(i) == ',') { i++; continue; }
                    expect(']');
                    return l;
                }
            }
            if (c == '"') return string();
            if (s.startsWith("true", i)) { i += 4; return Boolean.TRUE; }
            if (s.startsWith("false", i)) { i += 5; return Boolean.FALSE; }
            if (s.startsWith("null", i)) { i += 4; return null; }
            int start = i;
            boolean fractional = false;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                if (".eE".indexOf(s.charAt(i)) >= 0) fractional = true;
                i++;
            }
            String num = s.substring(start, i);
            if (num.isEmpty()) throw new IllegalArgumentException("bad JSON at " + start);
            if (fractional) return Double.parseDouble(num);
            try { return Long.parseLong(num); } catch (NumberFormatException e) { return Double.parseDouble(num); }
        }

        private void expect(char c) {
            if (s.charAt(i) != c) throw new IllegalArgumentException("expected '" + c + "' at " + i);
            i++;
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                char c = s.charAt(i++);
                if (c == '"') return b.toString();
                if (c != '\\') { b.append(c); continue; }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n': b.append('\n'); break;
                    case 't': b.append('\t'); break;
                    case 'r': b.append('\r'); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    case 'u': b.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
                    default: b.append(e);
                }
            }
        }

        static String write(Object v) {
            StringBuilder b = new StringBuilder();
            write(b, v);
            return b.toString();
        }

        private static void write(StringBuilder b, Object v) {
            if (v == null) { b.append("null"); return; }
            if (v instanceof String || v instanceof Character) { str(b, v.toString()); return; }
            if (v instanceof Boolean) { b.append(v); return; }
            if (v instanceof Double || v instanceof Float) {
                double d = ((Number) v).doubleValue();
                if (Double.isNaN(d)) { b.append("NaN"); return; }
                if (Double.isInfinite(d)) { b.append(d > 0 ? "Infinity" : "-Infinity"); return; }
                b.append(Double.toString(d));
                return;
            }
            if (v instanceof Number) { b.append(v.toString()); return; }
            if (v instanceof Map) {
                b.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    if (!first) b.append(", ");
                    first = false;
                    str(b, String.valueOf(e.getKey()));
                    b.append(": ");
                    write(b, e.getValue());
                }
                b.append('}');
                return;
            }
            if (v instanceof List) {
                b.append('[');
                boolean first = true;
                for (Object o : (List<?>) v) {
                    if (!first) b.append(", ");
                    first = false;
                    write(b, o);
                }
                b.append(']');
                return;
            }
            str(b, v.toString());
        }

        private static void str(StringBuilder b, String s) {
            b.append('"');
            for (int k = 0; k < s.length(); k++) {
                char c = s.charAt(k);
                switch (c) {
                    case '"': b.append("\\\""); break;
                    case '\\': b.append("\\\\"); break;
                    case '\n': b.append("\\n"); break;
                    case '\r': b.append("\\r"); break;
                    case '\t': b.append("\\t"); break;
                    default:
                        if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                        else b.append(c);
                }
            }
            b.append('"');
        }
    }
}
