// jq filters (mirrord's `jq_filter`): a program over {headers, properties, routing_key, exchange, payload}
// that must output `true`. A user's program may loop forever, so it never runs on the splitter's own thread:
// a child process (`lanes-splitter --jq-worker`, libjq) evaluates it, with a time limit per message. A
// program that times out is killed with its worker, counts as no match from then on, and is reported once;
// one that errors on a message counts as no match for that message. Splitter thread only.
#pragma once

#include "broker.h"

#include <QString>
#include <chrono>
#include <map>
#include <vector>

namespace lanes::split {

constexpr std::chrono::milliseconds kJqTimeLimit{100};
// For the worker to compile a program (at its start, for each program it is given).
constexpr std::chrono::milliseconds kJqCompileLimit{1000};

// Checks that `program` compiles; the error names what jq said.
Result<void> checkJqProgram(const std::string& program);

// The input a jq filter sees, as JSON text.
std::string jqInput(const Message& message, const std::string& exchange, const std::string& routingKey);

class JqRunner
{
public:
    enum class Outcome { Match, NoMatch, Error, TimedOut, Disabled };
    struct Answer
    {
        Outcome outcome = Outcome::Error;
        std::string error; // for Error and TimedOut
    };
    // `limit`: a program's time for one message.
    explicit JqRunner(std::string workerProgram, std::chrono::milliseconds limit = kJqTimeLimit);
    ~JqRunner();
    // A handle for `program` (already checked).
    int add(const std::string& program);
    // Each (program, input) in one exchange with the worker: all of them written at once, the answers read as
    // they come, each within the time limit from when its input is written and the answer before it came. A
    // program that times out (or ends the worker) is disabled and its worker killed; the answers before it
    // stand and the jobs after it go to a new worker. One answer per job, in order.
    std::vector<Answer> evaluateAll(const std::vector<std::pair<int, std::string>>& jobs);

private:
    bool startWorker();
    void stopWorker();
    bool writeLine(const std::string& line);
    // Writes `data` to the worker while reading its answers into `answers` (a line each), one for each job
    // whose line ends at ends[i] in `data`. false: the worker ended, or `limit` passed without the next
    // answer (or, with none due, without the worker reading on).
    enum class Exchanged { All, TimedOut, WorkerEnded };
    Exchanged exchange(const std::string& data, const std::vector<size_t>& ends,
                       std::vector<std::string>& answers, std::chrono::milliseconds limit);
    // Moves the complete lines read so far into `answers`, up to `expected` of them; true if any.
    bool takeAnswers(size_t expected, std::vector<std::string>& answers);
    // One line of the worker's answer within `limit`; false on timeout or a dead worker.
    bool readLine(std::string* line, std::chrono::milliseconds limit);

    std::string m_workerProgram;
    std::chrono::milliseconds m_limit;
    int m_pid = -1;
    int m_in = -1;  // to the worker
    int m_out = -1; // from the worker
    std::string m_buffer;
    std::map<int, std::string> m_programs;
    std::map<int, bool> m_disabled; // timed out once: no match from then on
    int m_next = 1;
};

// `lanes-splitter --jq-worker`: reads "C ID PROGRAM" and "E ID INPUT" lines, answers "ok", "1", "0" or
// "E MESSAGE" per line.
int jqWorkerMain();

} // namespace lanes::split
