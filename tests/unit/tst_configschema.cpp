// The JSON schema that the VS Code extension gives editors for lanes configs
// (plugins/vscode-stub/schemas/lanes.schema.json) against the config loader: every key of the schema is one
// the loader reads (a config with it alone has no "unknown key" error, and the loader looked for it), and
// every key the loader looks for, in configs built from all of the schema's keys, is in the schema.
#include "config.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QRegularExpression>
#include <QTest>

using namespace lanes::daemon;

namespace {

struct SchemaKey
{
    QStringList chain; // "feature", "network", ...; "[]" for an array's element, "*" for a map's value
    QJsonValue sample;
};

class Schema
{
public:
    explicit Schema(QJsonObject root) : m_root(std::move(root)) {}

    QJsonObject resolve(QJsonObject node) const
    {
        while (node.contains(u"$ref"))
            node = m_root.value(u"definitions")
                       .toObject()
                       .value(node.value(u"$ref").toString().section(u'/', -1))
                       .toObject();
        return node;
    }

    // Each definition once per chain: a filter node's all_of holds filter nodes.
    void keys(const QJsonObject& node, const QStringList& chain, QList<SchemaKey>& out,
              QStringList refs = {}) const
    {
        if (const QString ref = node.value(u"$ref").toString(); !ref.isEmpty()) {
            if (refs.contains(ref))
                return;
            refs << ref;
        }
        const QJsonObject n = resolve(node);
        const QJsonObject props = n.value(u"properties").toObject();
        for (auto it = props.begin(); it != props.end(); ++it) {
            const QJsonObject sub = resolve(it.value().toObject());
            const QJsonArray examples = sub.value(u"examples").toArray();
            const QJsonValue type = sub.value(u"type");
            const bool object =
                type.toString() == u"object" || type.toArray().contains(QStringLiteral("object"));
            // An object's keys are examples enough; any other key needs its own.
            out.append({chain + QStringList{it.key()}, !examples.isEmpty() ? examples.first()
                                                       : object            ? QJsonValue(QJsonObject())
                                                                : QJsonValue(QJsonValue::Undefined)});
            keys(it.value().toObject(), chain + QStringList{it.key()}, out, refs);
        }
        if (const QJsonObject items = n.value(u"items").toObject(); resolve(items).contains(u"properties"))
            keys(items, chain + QStringList{QStringLiteral("[]")}, out, refs);
        if (const QJsonObject map = n.value(u"additionalProperties").toObject();
            resolve(map).contains(u"properties"))
            keys(map, chain + QStringList{QStringLiteral("*")}, out, refs);
    }

    // The schema node at `chain` (a path the loader asked for, its indices and map keys given as they
    // were); normalizes the chain to the schema's "[]" and "*" on the way. Empty when the schema has none.
    QJsonObject at(QStringList& chain) const
    {
        QJsonObject node = m_root;
        for (QString& key : chain) {
            node = resolve(node);
            if (key == u"[]") {
                node = node.value(u"items").toObject();
            } else if (node.value(u"properties").toObject().contains(key)) {
                node = node.value(u"properties").toObject().value(key).toObject();
            } else if (node.value(u"additionalProperties").isObject()) {
                key = QStringLiteral("*");
                node = node.value(u"additionalProperties").toObject();
            } else {
                return {};
            }
        }
        return node.isEmpty() ? QJsonObject{{"any", true}} : node;
    }

    // The parents of `chain` as the loader needs them: objects, one-element arrays, a map entry "orders";
    // the required siblings of each level with their samples; the key's sample at the end.
    QJsonValue build(const QStringList& chain, int at, const QJsonObject& node, const QJsonValue& leaf) const
    {
        if (at == chain.size())
            return leaf;
        const QJsonObject n = resolve(node);
        const QString& key = chain[at];
        if (key == u"[]")
            return QJsonArray{build(chain, at + 1, n.value(u"items").toObject(), leaf)};
        QJsonObject out;
        const QJsonObject sub = key == u"*" ? n.value(u"additionalProperties").toObject()
                                            : n.value(u"properties").toObject().value(key).toObject();
        for (const QJsonValue& required : n.value(u"required").toArray())
            out.insert(required.toString(),
                       resolve(n.value(u"properties").toObject().value(required.toString()).toObject())
                           .value(u"examples")
                           .toArray()
                           .first());
        out.insert(key == u"*" ? QStringLiteral("orders") : key, build(chain, at + 1, sub, leaf));
        return out;
    }

    const QJsonObject& root() const { return m_root; }

private:
    QJsonObject m_root;
};

QStringList split(const QString& path)
{
    // "a.b[2].c" -> a, b, [], c
    QStringList out;
    for (const QString& part : path.split(u'.')) {
        const qsizetype bracket = part.indexOf(u'[');
        out << (bracket < 0 ? part : part.left(bracket));
        for (qsizetype i = bracket; i >= 0; i = part.indexOf(u'[', i + 1))
            out << QStringLiteral("[]");
    }
    return out;
}

} // namespace

class TstConfigSchema : public QObject
{
    Q_OBJECT
private slots:
    void everySchemaKeyIsReadAndEveryReadKeyIsInTheSchema();
};

void TstConfigSchema::everySchemaKeyIsReadAndEveryReadKeyIsInTheSchema()
{
    QFile file(QStringLiteral(LANES_SOURCE_DIR "/plugins/vscode-stub/schemas/lanes.schema.json"));
    QVERIFY(file.open(QIODevice::ReadOnly));
    const Schema schema(QJsonDocument::fromJson(file.readAll()).object());
    QList<SchemaKey> keys;
    schema.keys(schema.root(), {}, keys);
    QVERIFY2(keys.size() > 40, qPrintable(QString::number(keys.size())));
    QSet<QString> asked;
    for (const SchemaKey& key : keys) {
        const QString path = key.chain.join(u'.').replace(QStringLiteral(".[]"), QStringLiteral("[]"));
        QVERIFY2(!key.sample.isUndefined(), qPrintable(path + QStringLiteral(": the schema has no example")));
        const QJsonObject config = schema.build(key.chain, 0, schema.root(), key.sample).toObject();
        const ConfigCheck check = checkConfig(config);
        // The schema's example is a value the loader takes: no error at the key or under it, and no unknown
        // key anywhere. (An error above it is about a sibling the key alone lacks: http_filter.ports without
        // a filter is "an empty filter" at http_filter.)
        for (const lanes::JsonError& e : check.errors)
            QVERIFY2(!(e.path == path || e.path.startsWith(path + u'.') || e.path.startsWith(path + u'[')) &&
                         e.what != u"unknown key" && !e.what.contains(u"not supported by lanes yet"),
                     qPrintable(
                         QStringLiteral("%1: %2 at %3 in %4")
                             .arg(path, e.what, e.path,
                                  QString::fromUtf8(QJsonDocument(config).toJson(QJsonDocument::Compact)))));
        QString normalized = path;
        normalized.replace(QRegularExpression(QStringLiteral("\\[\\]")), QStringLiteral("[0]"));
        normalized.replace(QStringLiteral(".*."), QStringLiteral(".orders."));
        if (normalized.endsWith(u".*"))
            normalized = normalized.chopped(2) + QStringLiteral(".orders");
        QVERIFY2(check.keysAsked.contains(normalized),
                 qPrintable(QStringLiteral("%1: the loader never looked for it").arg(path)));
        asked += check.keysAsked;
    }
    for (const QString& path : std::as_const(asked)) {
        QStringList chain = split(path);
        QVERIFY2(!schema.at(chain).isEmpty(),
                 qPrintable(QStringLiteral("the loader reads %1, which the schema lacks").arg(path)));
    }
}

QTEST_GUILESS_MAIN(TstConfigSchema)
#include "tst_configschema.moc"
