// Kafka's verdict on JAAS configuration text, for tests/test_jaas_parity.py.
//
// One case per stdin line: "S <hex>" is a sasl.jaas.config value, read by
// JaasContext.loadClientContext as a Kafka client reads it; "F <hex>" is a JAAS
// file, read by the JDK's own login configuration parser (sun.security.provider.
// ConfigFile) through Configuration.getInstance("JavaLoginConfig", ...). <hex> is
// the UTF-8 text in hexadecimal. One output line per case:
//   OK <sections> then, per section, <hex name> <entries>, then per entry
//   <hex module> <flag> <options> and per option <hex key or "-"> <hex value>
//   ERR <exception class> <hex message or "-">
// A sasl.jaas.config value has one section, named "-". One JVM runs the corpus.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import javax.security.auth.login.AppConfigurationEntry;
import javax.security.auth.login.Configuration;
import javax.security.auth.login.Configuration.Parameters;
import javax.security.auth.login.AppConfigurationEntry.LoginModuleControlFlag;
import javax.security.auth.login.LoginException;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.types.Password;
import org.apache.kafka.common.security.JaasContext;
import java.net.URI;
import java.security.URIParameter;
import java.util.Collections;
import java.util.List;
import java.util.ArrayList;

public class JaasParity {
    static String hex(String text) {
        if (text == null) return "-";
        StringBuilder out = new StringBuilder();
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) out.append(String.format("%02x", b));
        return out.length() == 0 ? "=" : out.toString();
    }

    static String unhex(String hex) {
        byte[] bytes = new byte[hex.length() / 2];
        for (int i = 0; i < bytes.length; i++)
            bytes[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    static String flag(LoginModuleControlFlag flag) {
        if (flag == LoginModuleControlFlag.REQUIRED) return "required";
        if (flag == LoginModuleControlFlag.REQUISITE) return "requisite";
        if (flag == LoginModuleControlFlag.SUFFICIENT) return "sufficient";
        return "optional";
    }

    static void entries(StringBuilder out, String name, List<AppConfigurationEntry> entries) {
        out.append(' ').append(hex(name)).append(' ').append(entries.size());
        for (AppConfigurationEntry entry : entries) {
            Map<String, ?> options = entry.getOptions();
            out.append(' ').append(hex(entry.getLoginModuleName())).append(' ')
                .append(flag(entry.getControlFlag())).append(' ').append(options.size());
            for (Map.Entry<String, ?> option : options.entrySet())
                out.append(' ').append(hex(option.getKey())).append(' ')
                    .append(hex((String) option.getValue()));
        }
    }

    static String string(String text) {
        Map<String, Object> configs = new HashMap<>();
        configs.put(SaslConfigs.SASL_JAAS_CONFIG, new Password(text));
        JaasContext context = JaasContext.loadClientContext(configs);
        StringBuilder out = new StringBuilder("OK 1");
        entries(out, null, context.configurationEntries());
        return out.toString();
    }

    static String file(String text) throws Exception {
        Path path = Files.createTempFile("jaas", ".conf");
        try {
            Files.write(path, text.getBytes(StandardCharsets.UTF_8));
            Configuration config = Configuration.getInstance(
                "JavaLoginConfig", new URIParameter(path.toUri()));
            // ConfigFile offers no list of its sections: the test names the ones it expects
            // on the case's first line, "//sections: A B".
            String first = text.split("\n", 2)[0];
            List<String> names = new ArrayList<>();
            if (first.startsWith("//sections:"))
                for (String name : first.substring(11).trim().split(" "))
                    if (!name.isEmpty()) names.add(name);
            StringBuilder out = new StringBuilder("OK ").append(names.size());
            for (String name : names) {
                AppConfigurationEntry[] found = config.getAppConfigurationEntry(name);
                if (found == null) out.append(' ').append(hex(name)).append(" -1");
                else entries(out, name, List.of(found));
            }
            return out.toString();
        } finally {
            Files.delete(path);
        }
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            String kind = line.substring(0, 1);
            String text = line.length() > 2 ? unhex(line.substring(2)) : "";
            String result;
            try {
                result = kind.equals("S") ? string(text) : file(text);
            } catch (Exception e) {
                Throwable cause = e;
                // Configuration.getInstance wraps the parser's IOException.
                while (kind.equals("F") && cause.getCause() != null) cause = cause.getCause();
                result = "ERR " + cause.getClass().getName() + " " + hex(cause.getMessage());
            }
            out.println(result);
        }
    }
}
