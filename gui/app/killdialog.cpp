// See killdialog.h.
#include "killdialog.h"

#include <QDialogButtonBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace lanes::gui {

KillDialog::KillDialog(const ide::ClusterSession& session, const QString& me, QWidget* parent)
    : QDialog(parent), m_sessionId(session.id), m_question(new QLabel(this)), m_reason(new QLineEdit(this))
{
    setObjectName(QStringLiteral("killDialog"));
    setWindowTitle(tr("Kill session"));
    const QString owner = session.user == me ? tr("your own") : tr("%1's").arg(session.user);
    m_question->setObjectName(QStringLiteral("question"));
    m_question->setWordWrap(true);
    m_question->setText(
        tr("Kill %1 session %2 on %3 (host %4, ports %5)?\n\nIts filters and port locks go "
           "at once, requests in flight go to the deployed service, and its owner is told why.")
            .arg(owner, session.id, session.target, session.host.isEmpty() ? tr("unknown") : session.host,
                 session.portModes.join(QStringLiteral("; "))));
    m_reason->setObjectName(QStringLiteral("reason"));
    m_reason->setPlaceholderText(tr("Reason (the owner and the audit log see it)"));
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, this);
    QPushButton* kill = buttons->addButton(tr("&Kill session"), QDialogButtonBox::AcceptRole);
    kill->setObjectName(QStringLiteral("killButton"));
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_question);
    layout->addWidget(m_reason);
    layout->addWidget(buttons);
}

QString KillDialog::question() const
{
    return m_question->text();
}

QString KillDialog::reason() const
{
    return m_reason->text().trimmed();
}

} // namespace lanes::gui
