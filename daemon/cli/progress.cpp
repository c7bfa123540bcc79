// See progress.h. The terminal line is rewritten in place (\r, erase to the end) ten times a second while a
// step runs; nothing else writes to stderr meanwhile but lanes itself, which ends the line first.
#include "progress.h"

#include "output.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <cstdio>
#include <unistd.h>

namespace lanes::cli {
namespace {

constexpr int kRedrawMs = 100;

QString seconds(qint64 ms)
{
    return QStringLiteral("%1s").arg(double(ms) / 1000.0, 0, 'f', 1);
}

} // namespace

Progress::Mode Progress::modeFor(bool json)
{
    return json ? Mode::Json : ::isatty(STDERR_FILENO) ? Mode::Terminal : Mode::Plain;
}

Progress::Progress(Mode mode, QObject* parent) : QObject(parent), m_mode(mode)
{
    m_tick.setInterval(kRedrawMs);
    connect(&m_tick, &QTimer::timeout, this, &Progress::redraw);
}

void Progress::onProgress(const ide::ProgressParams& p)
{
    if (m_finished)
        return;
    if (p.kind == u"begin") {
        m_root = p.title;
        if (m_mode == Mode::Json)
            json({{"type", "NewTask"}, {"name", m_root}, {"parent", QJsonValue()}});
    } else if (p.kind == u"report" && !p.message.isEmpty()) {
        endStep(true, {});
        startStep(p.message);
    }
}

void Progress::startStep(const QString& name)
{
    m_step = name;
    m_stepClock.start();
    switch (m_mode) {
    case Mode::Json:
        json({{"type", "NewTask"}, {"name", name}, {"parent", m_root}});
        break;
    case Mode::Plain:
        err(name);
        break;
    case Mode::Terminal:
        redraw();
        m_tick.start();
        break;
    }
}

void Progress::endStep(bool success, const QString& message)
{
    if (m_step.isEmpty())
        return;
    const qint64 ms = m_stepClock.elapsed();
    m_tick.stop();
    if (m_mode == Mode::Json)
        json({{"type", "FinishedTask"},
              {"name", m_step},
              {"success", success},
              {"message", message.isEmpty() ? QJsonValue() : QJsonValue(message)},
              {"elapsed_ms", ms}});
    else if (m_mode == Mode::Terminal)
        fprintf(stderr, "\r\033[K  %s %s (%s)\n", success ? "done  " : "failed", qPrintable(m_step),
                qPrintable(seconds(ms)));
    m_step.clear();
}

void Progress::redraw()
{
    if (m_step.isEmpty())
        return;
    fprintf(stderr, "\r\033[K  ...    %s (%s)", qPrintable(m_step),
            qPrintable(seconds(m_stepClock.elapsed())));
    fflush(stderr);
}

void Progress::finish(bool success, const QString& message)
{
    if (m_finished)
        return;
    endStep(success, success ? QString() : message);
    m_finished = true;
    if (m_mode == Mode::Json)
        json({{"type", "FinishedTask"},
              {"name", m_root.isEmpty() ? QStringLiteral("lanes exec") : m_root},
              {"success", success},
              {"message", message}});
    else if (!message.isEmpty())
        err(message);
}

void Progress::warning(const QString& message)
{
    say(QStringLiteral("Warning"), message);
}

void Progress::info(const QString& message)
{
    say(QStringLiteral("Info"), message);
}

void Progress::say(const QString& type, const QString& message)
{
    if (m_mode == Mode::Json)
        return json({{"type", type}, {"message", message}});
    if (m_mode == Mode::Terminal && !m_step.isEmpty())
        fputs("\r\033[K", stderr); // the live line gives way, and is drawn again below the message
    err(message);
    redraw();
}

void Progress::json(const QJsonObject& object)
{
    fputs(QJsonDocument(object).toJson(QJsonDocument::Compact).append('\n').constData(), stderr);
    fflush(stderr);
}

} // namespace lanes::cli
