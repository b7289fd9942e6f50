// The speeding rule through real Esper 8 on the JVM, for benchmarks/epl.py (our code; Esper is
// fetched from Maven Central by the benchmark, never vendored). Uses Esper's public client API only.
//
//   java EsperSpeedingBench EVENTS_CSV REPEAT SPAN_S START_MS PASSES [RULE_FILE COLUMN]
//
// RULE_FILE (default: the speeding rule below) holds one EPL module (statements separated by
// ';', e.g. a create context and a statement in it), deployed at once; its last statement's
// rows are counted and their COLUMN (default "avg(speed)", a number) summed as the checksum.
// EVENTS_CSV: one fleet pass, "second,carNumber,speed,speedPedal" per line, in time order. The
// pass is sent REPEAT times, pass k shifted by k * SPAN_S seconds, as Map events of type
// DriverCarInfo (the same properties the Python side's dicts carry), with an external clock:
// advanceTime(ts) whenever the event time moves, advanceTimeSpan past the end at the end.
// The whole run is done PASSES times, each in a fresh runtime (the first ones warm the JIT up);
// one JSON line per pass: {"pass", "events", "seconds", "rows", "checksum"}.

import com.espertech.esper.common.client.EPCompiled;
import com.espertech.esper.common.client.EventBean;
import com.espertech.esper.common.client.configuration.Configuration;
import com.espertech.esper.compiler.client.CompilerArguments;
import com.espertech.esper.compiler.client.EPCompilerProvider;
import com.espertech.esper.runtime.client.EPDeployment;
import com.espertech.esper.runtime.client.EPEventService;
import com.espertech.esper.runtime.client.EPRuntime;
import com.espertech.esper.runtime.client.EPRuntimeProvider;
import com.espertech.esper.runtime.client.EPStatement;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public class EsperSpeedingBench {
    static final String RULE = "select carNumber, avg(speed) from DriverCarInfo#time_batch(30 sec) "
            + "group by carNumber having avg(speed) > 80";

    public static void main(String[] args) throws Exception {
        List<String> lines = Files.readAllLines(Paths.get(args[0]), StandardCharsets.UTF_8);
        int repeat = Integer.parseInt(args[1]);
        long spanS = Long.parseLong(args[2]);
        long startMs = Long.parseLong(args[3]);
        int passes = Integer.parseInt(args[4]);
        String rule = args.length > 5 ? Files.readString(Paths.get(args[5]), StandardCharsets.UTF_8) : RULE;
        String column = args.length > 6 ? args[6] : "avg(speed)";
        int n = lines.size();
        long[] second = new long[n];
        List<Map<String, Object>> events = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            String[] f = lines.get(i).split(",");
            second[i] = Long.parseLong(f[0]);
            Map<String, Object> m = new HashMap<>();
            m.put("carNumber", f[1]);
            m.put("speed", Double.parseDouble(f[2]));
            m.put("speedPedal", Double.parseDouble(f[3]));
            m.put("breakPedal", 0.0);
            m.put("steerAngle", 0.0);
            m.put("directLight", 0L);
            m.put("areaNumber", "0");
            m.put("date", "");
            events.add(m);
        }
        Map<String, Object> typeDef = new LinkedHashMap<>();
        typeDef.put("date", String.class);
        typeDef.put("carNumber", String.class);
        typeDef.put("speedPedal", Double.class);
        typeDef.put("breakPedal", Double.class);
        typeDef.put("steerAngle", Double.class);
        typeDef.put("directLight", Long.class);
        typeDef.put("speed", Double.class);
        typeDef.put("areaNumber", String.class);
        for (int p = 0; p < passes; p++) {
            Configuration config = new Configuration();
            config.getRuntime().getThreading().setInternalTimerEnabled(false);
            config.getCommon().addEventType("DriverCarInfo", typeDef);
            EPRuntime runtime = EPRuntimeProvider.getRuntime("squall-bench-" + p, config);
            EPEventService svc = runtime.getEventService();
            svc.advanceTime(0);
            EPCompiled compiled = EPCompilerProvider.getCompiler().compile(rule, new CompilerArguments(config));
            EPDeployment dep = runtime.getDeploymentService().deploy(compiled);
            EPStatement[] statements = dep.getStatements();
            EPStatement st = statements[statements.length - 1];
            final long[] rows = {0};
            final double[] checksum = {0.0};
            st.addListener((newEvents, oldEvents, statement, rt) -> {
                if (newEvents == null) return;
                for (EventBean b : newEvents) {
                    rows[0]++;
                    checksum[0] += ((Number) b.get(column)).doubleValue();
                }
            });
            long t0 = System.nanoTime();
            long now = Long.MIN_VALUE;
            for (int r = 0; r < repeat; r++) {
                long base = startMs + r * spanS * 1000L;
                for (int i = 0; i < n; i++) {
                    long ts = base + second[i] * 1000L;
                    if (ts != now) {
                        svc.advanceTime(ts);
                        now = ts;
                    }
                    svc.sendEventMap(events.get(i), "DriverCarInfo");
                }
            }
            svc.advanceTimeSpan(now + 10L * 24 * 3600 * 1000);
            double seconds = (System.nanoTime() - t0) / 1e9;
            System.out.println("{\"pass\": " + p + ", \"events\": " + ((long) n * repeat) + ", \"seconds\": "
                    + seconds + ", \"rows\": " + rows[0] + ", \"checksum\": " + checksum[0] + "}");
            System.out.flush();
            runtime.destroy();
        }
    }
}
