// See jqfilter.h.
#include "jqfilter.h"

extern "C" {
#include <jq.h>
}

#include <QJsonDocument>
#include <QJsonObject>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <iostream>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lanes::split {
namespace {

// Newlines inside a line of the worker protocol: programs and inputs are one line each.
std::string oneLine(std::string text)
{
    for (char& c : text)
        if (c == '\n' || c == '\r')
            c = ' ';
    return text;
}

void collectError(void* data, jv message)
{
    auto* out = static_cast<std::string*>(data);
    jv text = jv_get_kind(message) == JV_KIND_STRING ? jv_copy(message) : jv_dump_string(jv_copy(message), 0);
    if (jv_get_kind(text) == JV_KIND_STRING) {
        if (!out->empty())
            *out += "; ";
        *out += jv_string_value(text);
    }
    jv_free(text);
    jv_free(message);
}

} // namespace

Result<void> checkJqProgram(const std::string& program)
{
    jq_state* jq = jq_init();
    std::string error;
    jq_set_error_cb(jq, collectError, &error);
    const bool ok = jq && jq_compile(jq, program.c_str());
    jq_teardown(&jq);
    if (!ok)
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("jq_filter: %1")
                        .arg(QString::fromStdString(error.empty() ? "does not compile" : error)));
    return {};
}

std::string jqInput(const Message& message, const std::string& exchange, const std::string& routingKey)
{
    QJsonObject headers;
    for (const auto& [name, value] : message.headers())
        headers.insert(QString::fromStdString(name),
                       QString::fromUtf8(value.data(), qsizetype(value.size())));
    QJsonObject properties;
    for (const auto& [name, value] : message.properties())
        properties.insert(QString::fromStdString(name), QString::fromStdString(value));
    const std::string_view body = message.body();
    return QJsonDocument(QJsonObject{{"headers", headers},
                                     {"properties", properties},
                                     {"exchange", QString::fromStdString(exchange)},
                                     {"routing_key", QString::fromStdString(routingKey)},
                                     {"payload", QString::fromUtf8(body.data(), qsizetype(body.size()))}})
        .toJson(QJsonDocument::Compact)
        .toStdString();
}

JqRunner::JqRunner(std::string workerProgram, std::chrono::milliseconds limit)
    : m_workerProgram(std::move(workerProgram)), m_limit(limit)
{
}

JqRunner::~JqRunner()
{
    stopWorker();
}

bool JqRunner::startWorker()
{
    int toWorker[2], fromWorker[2];
    if (::pipe2(toWorker, O_CLOEXEC) != 0)
        return false;
    if (::pipe2(fromWorker, O_CLOEXEC) != 0) {
        ::close(toWorker[0]);
        ::close(toWorker[1]);
        return false;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(toWorker[0], STDIN_FILENO);
        ::dup2(fromWorker[1], STDOUT_FILENO);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::execl(m_workerProgram.c_str(), m_workerProgram.c_str(), "--jq-worker", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(toWorker[0]);
    ::close(fromWorker[1]);
    if (pid < 0) {
        ::close(toWorker[1]);
        ::close(fromWorker[0]);
        return false;
    }
    m_pid = pid;
    m_in = toWorker[1];
    ::fcntl(m_in, F_SETFL, ::fcntl(m_in, F_GETFL) | O_NONBLOCK); // written while its answers are read
    m_out = fromWorker[0];
    m_buffer.clear();
    // The worker compiles every program again.
    for (const auto& [id, program] : m_programs) {
        std::string answer;
        if (!writeLine("C " + std::to_string(id) + ' ' + oneLine(program)) ||
            !readLine(&answer, kJqCompileLimit))
            return false;
    }
    return true;
}

void JqRunner::stopWorker()
{
    if (m_pid > 0) {
        ::kill(m_pid, SIGKILL);
        ::waitpid(m_pid, nullptr, 0);
    }
    for (int* fd : {&m_in, &m_out})
        if (*fd >= 0) {
            ::close(*fd);
            *fd = -1;
        }
    m_pid = -1;
}

bool JqRunner::writeLine(const std::string& line)
{
    std::vector<std::string> none;
    return exchange(line + '\n', {}, none, kJqCompileLimit) == Exchanged::All;
}

bool JqRunner::readLine(std::string* line, std::chrono::milliseconds limit)
{
    std::vector<std::string> answers;
    if (exchange({}, {0}, answers, limit) != Exchanged::All)
        return false;
    *line = answers.front();
    return true;
}

bool JqRunner::takeAnswers(size_t expected, std::vector<std::string>& answers)
{
    bool took = false;
    for (size_t newline; answers.size() < expected && (newline = m_buffer.find('\n')) != std::string::npos;) {
        answers.push_back(m_buffer.substr(0, newline));
        m_buffer.erase(0, newline + 1);
        took = true;
    }
    return took;
}

JqRunner::Exchanged JqRunner::exchange(const std::string& data, const std::vector<size_t>& ends,
                                       std::vector<std::string>& answers, std::chrono::milliseconds limit)
{
    using Clock = std::chrono::steady_clock;
    const size_t expected = ends.size();
    size_t written = 0;
    bool canWrite = true;
    bool workerGone = false; // its answers all read: it ended
    // The next answer's clock starts once its job is all written and the answer before it came: a long
    // input's way through the pipe is not the program's time. While its job is still being written, the clock
    // is the writing's (the worker must read on).
    auto pendingEnd = [&] { return answers.size() < expected ? ends[answers.size()] : data.size(); };
    auto clockStart = Clock::now();
    while (true) {
        if (takeAnswers(expected, answers))
            clockStart = Clock::now();
        if (written == data.size() && answers.size() == expected)
            return Exchanged::All;
        if (workerGone)
            return Exchanged::WorkerEnded; // with answers still due: what it said before is taken
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(clockStart + limit - Clock::now());
        pollfd fds[] = {{m_out, POLLIN, 0},
                        {m_in, short(canWrite && written < data.size() ? POLLOUT : 0), 0}};
        // When the time is up, poll still takes one look (timeout 0): the answer may be there, and this
        // process the one that was held up.
        if (::poll(fds, 2, std::max<int>(0, int(left.count()) + 1)) < 0 && errno != EINTR)
            return Exchanged::WorkerEnded;
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char buffer[4096];
            const ssize_t n = ::read(m_out, buffer, sizeof buffer);
            if (n > 0)
                m_buffer.append(buffer, size_t(n));
            else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                workerGone = true;
            continue; // its answers first, before anything else is decided
        }
        if (fds[1].revents & (POLLERR | POLLHUP)) {
            canWrite = false; // what it answered before it ended is still to be read
            continue;
        }
        if (fds[1].revents & POLLOUT) {
            const size_t before = written;
            const ssize_t n = ::write(m_in, data.data() + written, data.size() - written);
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                canWrite = false;
                continue;
            }
            written += size_t(std::max<ssize_t>(n, 0));
            if (n > 0 && before < pendingEnd())
                clockStart = Clock::now();
            continue;
        }
        if (left.count() <
            0) // nothing in time: a worker that stops answering (or reading) is taken as looping
            return canWrite ? Exchanged::TimedOut : Exchanged::WorkerEnded;
    }
}

int JqRunner::add(const std::string& program)
{
    const int id = m_next++;
    m_programs[id] = program;
    if (m_pid > 0) {
        std::string answer;
        if (!writeLine("C " + std::to_string(id) + ' ' + oneLine(program)) ||
            !readLine(&answer, kJqCompileLimit))
            stopWorker(); // started again at the next evaluation
    }
    return id;
}

std::vector<JqRunner::Answer> JqRunner::evaluateAll(const std::vector<std::pair<int, std::string>>& jobs)
{
    std::vector<Answer> answers(jobs.size());
    size_t next = 0; // the first job without an answer
    while (next < jobs.size()) {
        std::string data;
        std::vector<size_t> sent, ends;
        for (size_t i = next; i < jobs.size(); ++i) {
            if (m_disabled[jobs[i].first]) {
                answers[i].outcome = Outcome::Disabled;
                continue;
            }
            data += "E " + std::to_string(jobs[i].first) + ' ' + oneLine(jobs[i].second) + '\n';
            sent.push_back(i);
            ends.push_back(data.size());
        }
        if (sent.empty())
            break;
        if (m_pid <= 0 && !startWorker()) {
            stopWorker();
            for (size_t i : sent)
                answers[i] = Answer{Outcome::Error, "the jq worker does not start"};
            break;
        }
        std::vector<std::string> lines;
        const Exchanged exchanged = exchange(data, ends, lines, m_limit);
        for (size_t k = 0; k < lines.size(); ++k) {
            const std::string& line = lines[k];
            answers[sent[k]] = line == "1" ? Answer{Outcome::Match, {}}
                               : line == "0"
                                   ? Answer{Outcome::NoMatch, {}}
                                   : Answer{Outcome::Error, line.size() > 2 ? line.substr(2) : line};
        }
        if (exchanged == Exchanged::All)
            break;
        // The job after the last answer took too long (its program may loop) or ended the worker. It goes
        // with its worker, and the jobs after it go to the next one.
        const size_t late = sent[lines.size()];
        stopWorker();
        m_disabled[jobs[late].first] = true;
        answers[late] =
            Answer{Outcome::TimedOut,
                   exchanged == Exchanged::WorkerEnded
                       ? std::string("the jq worker ended while running the jq_filter")
                       : "the jq_filter took longer than " + std::to_string(m_limit.count()) + " ms"};
        next = late + 1;
    }
    return answers;
}

int jqWorkerMain()
{
    // A batch's jobs are read a pipe's worth at a time, not a character per call as std::cin synced with
    // stdio reads. Each answer goes out before the next job starts: the job after it may loop, and the
    // splitter blames the job after the last answer it got.
    std::ios::sync_with_stdio(false);
    std::cin.tie(nullptr);
    std::map<int, jq_state*> programs;
    std::string line;
    std::string errors;
    for (; std::getline(std::cin, line); std::cout.flush()) {
        const size_t space = line.find(' ', 2);
        if (line.size() < 3 || space == std::string::npos) {
            std::cout << "E bad request\n";
            continue;
        }
        const int id = std::atoi(line.c_str() + 2);
        const std::string text = line.substr(space + 1);
        errors.clear();
        if (line[0] == 'C') {
            jq_state* jq = jq_init();
            jq_set_error_cb(jq, collectError, &errors);
            if (!jq_compile(jq, text.c_str())) {
                jq_teardown(&jq);
                std::cout << "E " << oneLine(errors) << '\n';
                continue;
            }
            programs[id] = jq;
            std::cout << "ok\n";
            continue;
        }
        auto it = programs.find(id);
        if (it == programs.end()) {
            std::cout << "E no such program\n";
            continue;
        }
        jv input = jv_parse(text.c_str());
        if (!jv_is_valid(input)) {
            jv_free(input);
            std::cout << "E the input is not JSON\n";
            continue;
        }
        jq_start(it->second, input, 0);
        jv result = jq_next(it->second);
        bool matched = jv_get_kind(result) == JV_KIND_TRUE;
        std::string error;
        if (!jv_is_valid(result) && jv_invalid_has_msg(jv_copy(result))) {
            jv message = jv_invalid_get_msg(jv_copy(result));
            jv text2 = jv_get_kind(message) == JV_KIND_STRING ? jv_copy(message)
                                                              : jv_dump_string(jv_copy(message), 0);
            error = jv_get_kind(text2) == JV_KIND_STRING ? jv_string_value(text2) : "error";
            jv_free(text2);
            jv_free(message);
        }
        jv_free(result);
        if (!error.empty())
            std::cout << "E " << oneLine(error) << '\n';
        else
            std::cout << (matched ? "1\n" : "0\n");
    }
    for (auto& [id, jq] : programs)
        jq_teardown(&jq);
    return 0;
}

} // namespace lanes::split
