// Differential-test oracle for fire-and-forget queries: deploys the rules in real Esper 8,
// sends the events (as EsperRunner does: external time from the time field, advanced with
// advanceTimeSpan before each event, never backwards), then, at the last event's time
// (no end jump, so time windows still hold their rows), runs each query through
// EPFireAndForgetService.executeQuery and prints every result row as
// {"query": <index>, "row": {...}}. Statement listener output is not printed.
// Compiled together with EsperRunner.java (its JSON reader/writer and type helpers).
//
//   java EsperQueryRunner --serve
//       one JSON request per stdin line: the fields of EsperRunner's requests plus
//       "queries": ["select ...", "delete from ...", ...]; answers with the rows and
//       {"done": true, "error": null|"..."}.

import com.espertech.esper.common.client.EPCompiled;
import com.espertech.esper.common.client.EventBean;
import com.espertech.esper.common.client.configuration.Configuration;
import com.espertech.esper.common.client.fireandforget.EPFireAndForgetQueryResult;
import com.espertech.esper.common.client.util.NameAccessModifier;
import com.espertech.esper.compiler.client.CompilerArguments;
import com.espertech.esper.compiler.client.EPCompiler;
import com.espertech.esper.compiler.client.EPCompilerProvider;
import com.espertech.esper.runtime.client.EPRuntime;
import com.espertech.esper.runtime.client.EPRuntimeProvider;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public class EsperQueryRunner {
    static int runtimeCounter = 0;

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, false, "UTF-8");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.trim().isEmpty()) continue;
            String error = null;
            try {
                @SuppressWarnings("unchecked")
                Map<String, Object> req = (Map<String, Object>) EsperRunner.Json.parse(line);
                run(req, out);
            } catch (Throwable t) {
                error = t.toString();
                Throwable c = t.getCause();
                while (c != null) { error += " / caused by: " + c; c = c.getCause(); }
            }
            Map<String, Object> done = new LinkedHashMap<>();
            done.put("done", Boolean.TRUE);
            done.put("error", error);
            out.println(EsperRunner.Json.write(done));
            out.flush();
        }
    }

    @SuppressWarnings("unchecked")
    static void run(Map<String, Object> req, PrintStream out) throws Exception {
        String type = (String) req.get("type");
        String timeField = (String) req.get("timeField");
        String typeField = (String) req.get("typeField");
        Configuration config = new Configuration();
        config.getRuntime().getThreading().setInternalTimerEnabled(false);
        // Named windows and tables visible to the queries compiled afterwards.
        config.getCompiler().getByteCode().setAccessModifierNamedWindow(NameAccessModifier.PUBLIC);
        config.getCompiler().getByteCode().setAccessModifierTable(NameAccessModifier.PUBLIC);
        Map<String, Map<String, Object>> allTypes = new LinkedHashMap<>();
        allTypes.put(type, (Map<String, Object>) req.get("props"));
        Map<String, Object> types = (Map<String, Object>) req.get("types");
        if (types != null) {
            for (Map.Entry<String, Object> t : types.entrySet()) {
                allTypes.put(t.getKey(), (Map<String, Object>) t.getValue());
            }
        }
        Map<String, Map<String, Class<?>>> classesByType = new LinkedHashMap<>();
        for (Map.Entry<String, Map<String, Object>> t : allTypes.entrySet()) {
            Map<String, Object> typeDef = new LinkedHashMap<>();
            Map<String, Class<?>> cls = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : t.getValue().entrySet()) {
                Class<?> c = EsperRunner.javaType((String) e.getValue());
                typeDef.put(e.getKey(), c);
                cls.put(e.getKey(), c);
            }
            config.getCommon().addEventType(t.getKey(), typeDef);
            classesByType.put(t.getKey(), cls);
        }
        EPRuntime runtime = EPRuntimeProvider.getRuntime("squall-faf-" + (runtimeCounter++), config);
        try {
            runtime.getEventService().advanceTime(0);
            EPCompiler compiler = EPCompilerProvider.getCompiler();
            EPCompiled compiled = compiler.compile((String) req.get("rules"), new CompilerArguments(config));
            runtime.getDeploymentService().deploy(compiled);
            boolean started = false;
            for (Object o : (List<Object>) req.get("events")) {
                Map<String, Object> ev = (Map<String, Object>) o;
                long ts = ((Number) ev.get(timeField)).longValue();
                long now = runtime.getEventService().getCurrentTime();
                if (!started || ts > now) {
                    runtime.getEventService().advanceTimeSpan(ts);
                    started = true;
                }
                String evType = type;
                if (typeField != null && ev.get(typeField) != null) evType = ev.get(typeField).toString();
                Map<String, Class<?>> classes = classesByType.get(evType);
                if (classes == null) throw new IllegalArgumentException("event of undeclared type " + evType);
                Map<String, Object> m = new LinkedHashMap<>();
                for (Map.Entry<String, Object> e : ev.entrySet()) {
                    Class<?> c = classes.get(e.getKey());
                    m.put(e.getKey(), c == null ? e.getValue() : EsperRunner.convert(e.getValue(), c));
                }
                runtime.getEventService().sendEventMap(m, evType);
            }
            List<Object> queries = (List<Object>) req.get("queries");
            for (int i = 0; i < queries.size(); i++) {
                CompilerArguments args = new CompilerArguments(config);
                args.getPath().add(runtime.getRuntimePath());
                EPCompiled q = compiler.compileQuery((String) queries.get(i), args);
                EPFireAndForgetQueryResult result = runtime.getFireAndForgetService().executeQuery(q);
                String[] names = result.getEventType().getPropertyNames();
                for (EventBean b : result.getArray()) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    for (String n : names) row.put(n, b.get(n));
                    Map<String, Object> lineOut = new LinkedHashMap<>();
                    lineOut.put("query", i);
                    lineOut.put("row", row);
                    out.println(EsperRunner.Json.write(lineOut));
                }
            }
        } finally {
            runtime.destroy();
        }
    }
}
