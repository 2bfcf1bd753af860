// Kafka's own Java client against a broker (the emulator, in tests/test_interop_java.py).
//
// java KafkaClientRun BOOTSTRAP TOPIC SECONDS [name=value ...]
//
// Each name=value is a client property (sasl.jaas.config, sasl.login.callback.handler.class,
// ...), except names starting with "system:", which are JVM system properties set before
// any client exists (Kafka 4 reads org.apache.kafka.sasl.oauthbearer.allowed.urls there).
// The run: a KafkaConsumer lists the topics, a KafkaProducer asks for TOPIC's partitions,
// then, for SECONDS, the consumer lists the topics again every POLL_MS on its open
// connection (so that KIP-368 re-authentication happens in between). It prints one JSON
// line: {"ok":true,"topics":[...],"partitions":N,"listings":N} or
// {"ok":false,"stage":"...","error":"<exception class>: <message>"}.

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class KafkaClientRun {
    /** How long one call may take: a refusal surfaces in seconds, not the default minute. */
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(15);
    static final long POLL_MS = 500;

    public static void main(String[] args) {
        String bootstrap = args[0];
        String topic = args[1];
        long seconds = Long.parseLong(args[2]);
        Properties common = new Properties();
        common.put("bootstrap.servers", bootstrap);
        common.put("security.protocol", "SASL_PLAINTEXT");
        common.put("sasl.mechanism", "OAUTHBEARER");
        common.put("request.timeout.ms", "10000");
        common.put("default.api.timeout.ms", "15000");
        common.put("reconnect.backoff.max.ms", "1000");
        for (int i = 3; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            String name = args[i].substring(0, eq);
            String value = args[i].substring(eq + 1);
            if (name.startsWith("system:")) {
                System.setProperty(name.substring("system:".length()), value);
            } else {
                common.put(name, value);
            }
        }
        String stage = "consumer";
        Properties consumerProps = new Properties();
        consumerProps.putAll(common);
        consumerProps.put("key.deserializer", StringDeserializer.class.getName());
        consumerProps.put("value.deserializer", StringDeserializer.class.getName());
        Properties producerProps = new Properties();
        producerProps.putAll(common);
        producerProps.put("key.serializer", StringSerializer.class.getName());
        producerProps.put("value.serializer", StringSerializer.class.getName());
        // The emulator serves no InitProducerId: an idempotent producer would ask for one.
        producerProps.put("enable.idempotence", "false");
        producerProps.put("max.block.ms", "15000");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps)) {
            TreeSet<String> topics = new TreeSet<>(consumer.listTopics(CALL_TIMEOUT).keySet());
            stage = "producer";
            int partitions;
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
                List<PartitionInfo> found = producer.partitionsFor(topic);
                partitions = found.size();
            }
            stage = "listing";
            int listings = 1;
            long end = System.currentTimeMillis() + seconds * 1000;
            while (System.currentTimeMillis() < end) {
                Thread.sleep(POLL_MS);
                if (!consumer.listTopics(CALL_TIMEOUT).containsKey(topic)) {
                    throw new IllegalStateException("the topic disappeared");
                }
                listings++;
            }
            List<String> quoted = new ArrayList<>();
            for (String name : topics) {
                quoted.add(json(name));
            }
            System.out.println("{\"ok\":true,\"topics\":[" + String.join(",", quoted)
                    + "],\"partitions\":" + partitions + ",\"listings\":" + listings + "}");
        } catch (Exception e) {
            String error = e.getClass().getName() + ": " + e.getMessage();
            System.out.println("{\"ok\":false,\"stage\":" + json(stage) + ",\"error\":"
                    + json(error) + "}");
        }
    }

    static String json(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : String.valueOf(text).toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }
}
