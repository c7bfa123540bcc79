// The load of tests/bench/split_bench.py, with rabbitmq-c (a Python client would be the bottleneck):
//   amqp_load publish URL QUEUE COUNT SIZE LANES RATE   persistent messages to QUEUE (default exchange) with
//       publisher confirms (at most 256 unconfirmed), header x-lane cycling over LANES ("a,b," : a, b, none)
//       and x-sent (CLOCK_MONOTONIC ns); RATE messages a second, 0 for as fast as confirms allow.
//   amqp_load consume URL QUEUE COUNT IDLE_MS             manual acks, prefetch 256, until COUNT messages or
//       IDLE_MS without one; latency from x-sent.
//   amqp_load declare URL QUEUE...                         durable queues, no arguments
// Each prints one JSON line: counts, first and last times (ns), latency percentiles, messages per lane.
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <sys/time.h>
#include <vector>

namespace {

constexpr int kWindow = 256;
constexpr int kPrefetch = 256;

long long nowNs()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

[[noreturn]] void die(const char* what)
{
    std::fprintf(stderr, "amqp_load: %s\n", what);
    std::exit(1);
}

amqp_connection_state_t open(const char* url)
{
    std::string buffer = url;
    amqp_connection_info info;
    if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK)
        die("bad URL");
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t* socket = amqp_tcp_socket_new(conn);
    if (amqp_socket_open(socket, info.host, info.port) != AMQP_STATUS_OK)
        die("cannot connect");
    if (amqp_login(conn, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password)
            .reply_type != AMQP_RESPONSE_NORMAL)
        die("login refused");
    amqp_channel_open(conn, 1);
    if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL)
        die("channel.open failed");
    return conn;
}

std::vector<std::string> split(const std::string& list)
{
    std::vector<std::string> out;
    size_t start = 0;
    while (true) {
        const size_t comma = list.find(',', start);
        out.push_back(list.substr(start, comma - start));
        if (comma == std::string::npos)
            return out;
        start = comma + 1;
    }
}

// Reads the broker's confirms that are there (waits up to timeoutUs for the first).
long long readConfirms(amqp_connection_state_t conn, long long confirmed, long timeoutUs)
{
    while (true) {
        timeval tv{timeoutUs / 1000000, timeoutUs % 1000000};
        amqp_frame_t frame;
        const int status = amqp_simple_wait_frame_noblock(conn, &frame, &tv);
        if (status == AMQP_STATUS_TIMEOUT)
            return confirmed;
        if (status != AMQP_STATUS_OK)
            die("connection lost while publishing");
        timeoutUs = 0;
        if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            const auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
            confirmed = ack->multiple ? (long long)ack->delivery_tag
                                      : std::max(confirmed, (long long)ack->delivery_tag);
        } else if (frame.frame_type == AMQP_FRAME_METHOD &&
                   frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
            die("the broker refused a message (nack)");
        }
        amqp_maybe_release_buffers(conn);
    }
}

int publish(const char* url, const char* queue, long long count, int size, const std::string& lanes,
            double rate)
{
    amqp_connection_state_t conn = open(url);
    if (!amqp_confirm_select(conn, 1))
        die("confirm.select failed");
    const std::vector<std::string> lane = split(lanes);
    const std::string body(size_t(size), 'm');
    const long long start = nowNs();
    long long confirmed = 0;
    for (long long i = 0; i < count; ++i) {
        if (rate > 0) {
            // Waits in the socket's poll until the message is due (or a confirm comes): a producer that
            // spins here takes one of the two cores from what it measures (docs/architecture.md, "The worse
            // rows of the AMD run").
            const long long due = start + (long long)(double(i) * 1e9 / rate);
            for (long long now = nowNs(); now < due; now = nowNs())
                confirmed = readConfirms(conn, confirmed, std::max(1LL, (due - now) / 1000));
        }
        while (i - confirmed >= kWindow)
            confirmed = readConfirms(conn, confirmed, 100000);
        const std::string& l = lane[size_t(i) % lane.size()];
        const std::string id = std::to_string(i);
        amqp_table_entry_t entries[2];
        int n = 0;
        entries[n].key = amqp_cstring_bytes("x-sent");
        entries[n].value.kind = AMQP_FIELD_KIND_I64;
        entries[n++].value.value.i64 = nowNs();
        if (!l.empty()) {
            entries[n].key = amqp_cstring_bytes("x-lane");
            entries[n].value.kind = AMQP_FIELD_KIND_UTF8;
            entries[n++].value.value.bytes = amqp_cstring_bytes(l.c_str());
        }
        amqp_basic_properties_t props{};
        props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
        props.delivery_mode = 2;
        props.headers = amqp_table_t{n, entries};
        props.message_id = amqp_cstring_bytes(id.c_str());
        if (amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0, &props,
                               amqp_bytes_t{body.size(), const_cast<char*>(body.data())}) != AMQP_STATUS_OK)
            die("publish failed");
    }
    while (confirmed < count)
        confirmed = readConfirms(conn, confirmed, 100000);
    const long long end = nowNs();
    std::printf("{\"published\": %lld, \"first_ns\": %lld, \"last_ns\": %lld}\n", count, start, end);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    return 0;
}

int consume(const char* url, const char* queue, long long count, int idleMs)
{
    amqp_connection_state_t conn = open(url);
    amqp_basic_qos(conn, 1, 0, kPrefetch, 0);
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL)
        die("basic.consume failed");
    std::printf("{\"consuming\": true}\n");
    std::fflush(stdout);
    std::vector<long long> latencies;
    std::map<std::string, long long> lanes;
    std::map<std::string, int> seen;
    long long received = 0, duplicates = 0, first = 0, last = 0;
    while (received < count) {
        amqp_envelope_t envelope;
        amqp_maybe_release_buffers(conn);
        timeval tv{idleMs / 1000, (idleMs % 1000) * 1000};
        const amqp_rpc_reply_t reply = amqp_consume_message(conn, &envelope, &tv, 0);
        if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT)
            break;
        if (reply.reply_type != AMQP_RESPONSE_NORMAL)
            die("connection lost while consuming");
        const long long now = nowNs();
        if (!first)
            first = now;
        last = now;
        ++received;
        std::string lane;
        const amqp_table_t& headers = envelope.message.properties.headers;
        for (int i = 0; i < headers.num_entries; ++i) {
            const std::string key(static_cast<const char*>(headers.entries[i].key.bytes),
                                  headers.entries[i].key.len);
            const amqp_field_value_t& v = headers.entries[i].value;
            if (key == "x-sent" && v.kind == AMQP_FIELD_KIND_I64)
                latencies.push_back(now - v.value.i64);
            else if (key == "x-lane" && (v.kind == AMQP_FIELD_KIND_UTF8 || v.kind == AMQP_FIELD_KIND_BYTES))
                lane.assign(static_cast<const char*>(v.value.bytes.bytes), v.value.bytes.len);
        }
        ++lanes[lane];
        const std::string id(static_cast<const char*>(envelope.message.properties.message_id.bytes),
                             envelope.message.properties.message_id.len);
        if (seen[id]++)
            ++duplicates;
        amqp_basic_ack(conn, 1, envelope.delivery_tag, 0);
        amqp_destroy_envelope(&envelope);
    }
    std::sort(latencies.begin(), latencies.end());
    auto pct = [&](double p) {
        return latencies.empty() ? 0.0 : double(latencies[size_t(p * double(latencies.size() - 1))]) / 1000.0;
    };
    std::printf(
        "{\"received\": %lld, \"duplicates\": %lld, \"first_ns\": %lld, \"last_ns\": %lld, \"p50_us\": %.1f, "
        "\"p99_us\": %.1f, \"lanes\": {",
        received, duplicates, first, last, pct(0.5), pct(0.99));
    bool comma = false;
    for (const auto& [lane, n] : lanes) {
        std::printf("%s\"%s\": %lld", comma ? ", " : "", lane.c_str(), n);
        comma = true;
    }
    std::printf("}}\n");
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    return 0;
}

int declare(const char* url, char** queues, int n)
{
    amqp_connection_state_t conn = open(url);
    for (int i = 0; i < n; ++i)
        if (!amqp_queue_declare(conn, 1, amqp_cstring_bytes(queues[i]), 0, 1, 0, 0, amqp_empty_table))
            die("queue.declare failed");
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc >= 4 && std::strcmp(argv[1], "declare") == 0)
        return declare(argv[2], argv + 3, argc - 3);
    if (argc == 8 && std::strcmp(argv[1], "publish") == 0)
        return publish(argv[2], argv[3], std::atoll(argv[4]), std::atoi(argv[5]), argv[6],
                       std::atof(argv[7]));
    if (argc == 6 && std::strcmp(argv[1], "consume") == 0)
        return consume(argv[2], argv[3], std::atoll(argv[4]), std::atoi(argv[5]));
    std::fprintf(
        stderr,
        "usage: amqp_load publish URL QUEUE COUNT SIZE LANES RATE | consume URL QUEUE COUNT IDLE_MS\n");
    return 2;
}
