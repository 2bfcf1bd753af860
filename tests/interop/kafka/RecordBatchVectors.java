// Kafka's own record batches (format v2), for tests/test_kafka_records.py.
//
// One case per stdin line, fields separated by spaces; "-" is null, "=" empty:
//   W <compression> <count> then per record:
//     <timestamp> <hex key> <hex value> <header count> then per header <hex key> <hex value>
//   writes one batch with Kafka's MemoryRecordsBuilder (magic 2, CreateTime, base
//   offset 0) and prints "OK <hex of the batch>";
//   R <hex>
//   reads record batches as Kafka's consumer does (MemoryRecords, each batch's
//   ensureValid, then its records) and prints "OK <batches>", then per batch
//   <base offset> <last offset> <compression> <producer id> <records>, then per
//   record <offset> <timestamp> <hex key> <hex value> <header count> and per
//   header <hex key> <hex value>; or "ERR <exception class>".
// <compression> is none, gzip, snappy, lz4 or zstd. One JVM runs every case.
// Kafka 4.4 moved the record classes to org.apache.kafka.common.record.internal.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.compress.Compression;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.*;
import org.apache.kafka.common.record.internal.*; // Kafka 4.4+ (the test drops it for older)

public class RecordBatchVectors {
    static String hex(byte[] bytes) {
        if (bytes == null) return "-";
        if (bytes.length == 0) return "=";
        StringBuilder out = new StringBuilder();
        for (byte b : bytes) out.append(String.format("%02x", b));
        return out.toString();
    }

    static String hex(ByteBuffer buffer) {
        if (buffer == null) return "-";
        byte[] bytes = new byte[buffer.remaining()];
        buffer.duplicate().get(bytes);
        return hex(bytes);
    }

    static byte[] unhex(String hex) {
        if (hex.equals("-")) return null;
        if (hex.equals("=")) return new byte[0];
        byte[] bytes = new byte[hex.length() / 2];
        for (int i = 0; i < bytes.length; i++)
            bytes[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
        return bytes;
    }

    static String write(String[] f) {
        Compression compression = Compression.of(CompressionType.forName(f[1])).build();
        int count = Integer.parseInt(f[2]);
        ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
        MemoryRecordsBuilder builder = MemoryRecords.builder(
            buffer, RecordBatch.MAGIC_VALUE_V2, compression, TimestampType.CREATE_TIME, 0L);
        int i = 3;
        for (int r = 0; r < count; r++) {
            long timestamp = Long.parseLong(f[i++]);
            byte[] key = unhex(f[i++]);
            byte[] value = unhex(f[i++]);
            int headerCount = Integer.parseInt(f[i++]);
            Header[] headers = new Header[headerCount];
            for (int h = 0; h < headerCount; h++) {
                String headerKey = new String(unhex(f[i++]), StandardCharsets.UTF_8);
                headers[h] = new RecordHeader(headerKey, unhex(f[i++]));
            }
            builder.append(timestamp, key, value, headers);
        }
        return "OK " + hex(builder.build().buffer());
    }

    static String read(String[] f) {
        MemoryRecords records = MemoryRecords.readableRecords(ByteBuffer.wrap(unhex(f[1])));
        StringBuilder out = new StringBuilder();
        int batches = 0;
        for (RecordBatch batch : records.batches()) {
            batch.ensureValid();
            batches++;
            StringBuilder recs = new StringBuilder();
            int count = 0;
            for (var record : batch) {
                record.ensureValid();
                count++;
                recs.append(' ').append(record.offset()).append(' ').append(record.timestamp())
                    .append(' ').append(hex(record.key())).append(' ').append(hex(record.value()))
                    .append(' ').append(record.headers().length);
                for (Header header : record.headers())
                    recs.append(' ').append(hex(header.key().getBytes(StandardCharsets.UTF_8)))
                        .append(' ').append(hex(header.value()));
            }
            out.append(' ').append(batch.baseOffset()).append(' ').append(batch.lastOffset())
                .append(' ').append(batch.compressionType().name)
                .append(' ').append(batch.producerId()).append(' ').append(count).append(recs);
        }
        return "OK " + batches + out;
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] fields = line.trim().split(" ");
            try {
                out.println(fields[0].equals("W") ? write(fields) : read(fields));
            } catch (Throwable e) { // OutOfMemoryError too: a compressed batch claiming 2**31 records
                out.println("ERR " + e.getClass().getSimpleName());
            }
        }
    }
}
