// The Cluster tab under a 1000-session cluster: the time from a cluster/sessionsChanged message (JSON, as
// lanesd sends it) to a repainted table, for lanes-gui's ClusterSessionsModel (row inserts, removals and
// dataChanged: the selection holds) and, in the same run, for the baseline a static table uses (the same rows
// behind a model reset). Both sit under the same sort proxy and QTableView, shown on the offscreen platform.
// Prints one JSON object of percentiles in milliseconds; gui_bench.py runs it and writes docs/benchmarks.md.
#include "protocol.h"
#include "sessionmodels.h"
#include "tableproxy.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTableView>

#include <algorithm>
#include <cstdio>

using namespace lanes;
using namespace lanes::gui;

namespace {

// The baseline: a table that is replaced whole on every message, as one with a Refresh button is.
class ResetModel final : public QAbstractTableModel
{
public:
    int rowCount(const QModelIndex& parent = {}) const override
    {
        return parent.isValid() ? 0 : int(m_rows.size());
    }
    int columnCount(const QModelIndex& parent = {}) const override { return parent.isValid() ? 0 : 10; }
    QVariant data(const QModelIndex& index, int role) const override
    {
        if (role != Qt::DisplayRole && role != kSortRole)
            return {};
        const ide::ClusterSession& s = m_rows[index.row()];
        const QStringList cells{s.user,
                                s.host,
                                s.target,
                                s.portModes.join(u';'),
                                s.filters.join(u';'),
                                s.queues.join(u';'),
                                QString::number(s.ageSeconds),
                                s.state,
                                s.owner,
                                s.id};
        return cells[index.column()];
    }
    void apply(const QList<ide::ClusterSession>& rows)
    {
        beginResetModel();
        m_rows = rows;
        endResetModel();
    }

private:
    QList<ide::ClusterSession> m_rows;
};

ide::ClusterSession session(int i, int version)
{
    ide::ClusterSession s;
    s.id = QStringLiteral("s%1").arg(i, 6, 10, QLatin1Char('0'));
    s.user = QStringLiteral("dev%1").arg(i % 97);
    s.host = QStringLiteral("laptop-%1").arg(i % 89);
    s.target = QStringLiteral("deploy/service-%1").arg(i % 50);
    s.ports = {8080};
    s.filters = {QStringLiteral("8080: header(x-lane: dev%1)").arg(i)};
    s.portModes = {QStringLiteral("8080 steal header(x-lane: dev%1)").arg(i)};
    s.pods = {QStringLiteral("service-%1-0").arg(i % 50)};
    s.ageSeconds = 60 + version;
    s.state = version % 2 ? QStringLiteral("detached") : QStringLiteral("running");
    s.mode = QStringLiteral("steal");
    s.requests = version;
    return s;
}

// A cluster/sessionsChanged message's params, as bytes: `count` sessions at `version`.
QByteArray message(int count, int version)
{
    ide::ClusterSessionsResult result;
    for (int i = 0; i < count; ++i)
        result.sessions << session(i, version);
    return QJsonDocument(toJson(result).toObject()).toJson(QJsonDocument::Compact);
}

struct Table
{
    explicit Table(QAbstractItemModel* model) : proxy(model)
    {
        view.setModel(&proxy);
        view.setSortingEnabled(true);
        view.sortByColumn(0, Qt::AscendingOrder);
        view.resize(1200, 700);
        view.show();
        QCoreApplication::processEvents();
    }
    TableProxy proxy;
    QTableView view;
};

// Milliseconds from the message's bytes to the repainted view.
template <class Apply> double timed(const QByteArray& bytes, QTableView& view, Apply apply)
{
    QElapsedTimer clock;
    clock.start();
    ide::ClusterSessionsResult parsed;
    if (!fromJson(QJsonDocument::fromJson(bytes).object(), parsed)) {
        std::fprintf(stderr, "gui_model_bench: the message did not parse\n");
        std::exit(2);
    }
    apply(parsed.sessions);
    view.viewport()->repaint();
    QCoreApplication::processEvents();
    return double(clock.nsecsElapsed()) / 1e6;
}

QJsonObject percentiles(QList<double> samples)
{
    std::sort(samples.begin(), samples.end());
    const auto at = [&](double q) {
        return samples[std::min<qsizetype>(samples.size() - 1, qsizetype(q * samples.size()))];
    };
    return {{"p50", at(0.5)},
            {"p90", at(0.9)},
            {"p99", at(0.99)},
            {"max", samples.last()},
            {"n", samples.size()}};
}

} // namespace

int main(int argc, char* argv[])
{
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    const int repeats = argc > 1 ? std::max(1, atoi(argv[1])) : 30;
    const int sessions = 1000;
    // The messages are made once: only their parsing and applying are timed.
    const QByteArray empty = message(0, 0);
    const QByteArray versions[2] = {message(sessions, 0), message(sessions, 1)};

    QJsonObject out{{"sessions", sessions}, {"repeats", repeats}};
    for (const char* kind : {"lanes", "reset"}) {
        const bool lanes = QLatin1String(kind) == u"lanes";
        ClusterSessionsModel incremental;
        ResetModel reset;
        Table table(lanes ? static_cast<QAbstractItemModel*>(&incremental) : &reset);
        const auto apply = [&](const QList<ide::ClusterSession>& rows) {
            if (lanes)
                incremental.applyList(rows);
            else
                reset.apply(rows);
        };
        QList<double> arrive;
        QList<double> change;
        QList<double> leave;
        const QString selected = QStringLiteral("s000500");
        bool selectionKept = true;
        for (int r = 0; r < repeats; ++r) {
            arrive << timed(versions[0], table.view, apply); // 1000 sessions appear
            if (table.proxy.rowCount() != sessions) {
                std::fprintf(stderr, "gui_model_bench: %d rows after 1000 arrived\n",
                             int(table.proxy.rowCount()));
                return 2;
            }
            const QModelIndexList match =
                table.proxy.match(table.proxy.index(0, 9), Qt::DisplayRole, selected);
            table.view.selectionModel()->select(match.value(0), QItemSelectionModel::ClearAndSelect |
                                                                    QItemSelectionModel::Rows);
            change << timed(versions[1], table.view, apply); // all 1000 change state and counts
            // Each row shows its new state: the change reached the table, not only the model.
            if (table.proxy.match(table.proxy.index(0, 7), Qt::DisplayRole, QStringLiteral("detached"), -1)
                    .size() != sessions) {
                std::fprintf(stderr, "gui_model_bench: the table does not show the changed states\n");
                return 2;
            }
            change << timed(versions[0], table.view, apply); // and back
            const QModelIndexList rows = table.view.selectionModel()->selectedRows(9);
            selectionKept = selectionKept && rows.size() == 1 && rows[0].data().toString() == selected;
            leave << timed(empty, table.view, apply); // all 1000 end
        }
        if (table.proxy.rowCount() != 0 || (lanes && incremental.rowCount() != 0)) {
            std::fprintf(stderr, "gui_model_bench: rows left after the last message\n");
            return 2;
        }
        out.insert(QLatin1String(kind), QJsonObject{{"arrive", percentiles(arrive)},
                                                    {"change", percentiles(change)},
                                                    {"leave", percentiles(leave)},
                                                    {"selectionKept", selectionKept}});
    }
    std::puts(QJsonDocument(out).toJson(QJsonDocument::Compact).constData());
    return 0;
}
