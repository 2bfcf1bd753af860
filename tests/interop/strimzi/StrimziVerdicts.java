import io.strimzi.kafka.oauth.server.JaasServerOauthValidatorCallbackHandler;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import javax.security.auth.callback.Callback;
import javax.security.auth.login.AppConfigurationEntry;
import java.util.Map;
import org.apache.kafka.common.config.types.Password;
import org.apache.kafka.common.network.ListenerName;
import org.apache.kafka.common.security.JaasContext;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallback;

/**
 * Strimzi's broker-side validator, judging tokens exactly as a broker calls it.
 *
 * args[0]: a file holding the sasl.jaas.config text, read by Kafka's own JaasContext.
 * stdin: one token per line. stdout: per token, "OK principal" or "FAIL message".
 */
public class StrimziVerdicts {
    public static void main(String[] args) throws Exception {
        String jaas = Files.readString(Path.of(args[0]), StandardCharsets.UTF_8);
        // As a broker reads listener.name.<l>.oauthbearer.sasl.jaas.config: the channel
        // builder hands JaasContext the listener's configs with that prefix taken off.
        ListenerName listener = ListenerName.normalised("SASL_PLAINTEXT");
        Map<String, Object> configs = new HashMap<>();
        configs.put("oauthbearer.sasl.jaas.config", new Password(jaas));
        List<AppConfigurationEntry> entries =
            JaasContext.loadServerContext(listener, "OAUTHBEARER", configs).configurationEntries();
        JaasServerOauthValidatorCallbackHandler handler = new JaasServerOauthValidatorCallbackHandler();
        handler.configure(configs, "OAUTHBEARER", entries);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            OAuthBearerValidatorCallback callback = new OAuthBearerValidatorCallback(line);
            try {
                handler.handle(new Callback[] {callback});
                System.out.println("OK " + callback.token().principalName());
            } catch (Exception e) {
                System.out.println("FAIL " + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
        }
        handler.close();
        System.out.flush();
        System.exit(0);
    }
}
