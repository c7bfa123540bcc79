// The agent's command line: `lanes-agent --netns NAME --id ID --pod POD --credentials FILE`, and
// `lanes-agent --netns NAME --cleanup ID`, which the operator runs when an agent's supervisor died too.
#pragma once

namespace lanes::agent {
int agentMain(int argc, char** argv);
}
