// How `lanes exec` shows a session start's steps (lanesd's $/progress): on a terminal, a live line per step
// with its elapsed time, replaced by "done" when the next step starts; without a terminal, plain lines; with
// --json, one JSON object per line in mirrord's progress shape (NewTask, FinishedTask, Warning, Info), so a
// script can follow it. All on stderr: stdout belongs to the program. Event-loop thread.
#pragma once

#include "protocol.h"

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

namespace lanes::cli {

class Progress final : public QObject
{
    Q_OBJECT
public:
    enum class Mode { Terminal, Plain, Json };
    // Terminal when stderr is one, unless --json.
    static Mode modeFor(bool json);
    explicit Progress(Mode mode, QObject* parent = nullptr);
    void onProgress(const ide::ProgressParams& progress);
    // The start's outcome: closes the open steps (failed ones with `error`).
    void finish(bool success, const QString& message);
    void warning(const QString& message);
    void info(const QString& message);
    bool isFinished() const { return m_finished; }

private:
    void startStep(const QString& name);
    void endStep(bool success, const QString& message);
    void json(const QJsonObject& object);
    // A message between the steps: a JSON object of `type`, or a line above the live one.
    void say(const QString& type, const QString& message);
    void redraw();

    Mode m_mode;
    QString m_root; // the task lanesd named in `begin`
    QString m_step; // the step in progress, empty between steps
    QElapsedTimer m_stepClock;
    QTimer m_tick; // terminal mode: the live line's elapsed time
    bool m_finished = false;
};

} // namespace lanes::cli
