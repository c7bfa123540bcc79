// The confirmation before a kill: it names whose session it is (user, host, target, ports) and takes the
// reason that the developer and the audit log will read. Event-loop thread only.
#pragma once

#include "protocol.h"

#include <QDialog>

class QLabel;
class QLineEdit;

namespace lanes::gui {

class KillDialog final : public QDialog
{
    Q_OBJECT
public:
    // `me`: the user of this GUI's credentials (a session of theirs is "your own").
    KillDialog(const ide::ClusterSession& session, const QString& me, QWidget* parent = nullptr);
    QString sessionId() const { return m_sessionId; }
    QString question() const;
    QString reason() const;
    QLineEdit* reasonField() const { return m_reason; }

private:
    QString m_sessionId;
    QLabel* m_question;
    QLineEdit* m_reason;
};

} // namespace lanes::gui
