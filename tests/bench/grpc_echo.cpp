// The gRPC server of grpc_bench.py: grpc++ (Debian's libgrpc++), the generic callback API, so any method is
// served without generated code. Each call's messages come back as they came, its initial metadata says which
// server answered (`x-served-by: NAME`: the deployed app in its pod, or the developer's local one), and the
// call ends with status OK when the client has sent all. It runs until it is killed.
//   grpc_echo NAME ADDRESS:PORT [ADDRESS:PORT...]
#include <cstdio>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <memory>
#include <string>

namespace {

class Echo final : public grpc::ServerGenericBidiReactor
{
public:
    Echo(grpc::GenericCallbackServerContext* context, const std::string& name)
    {
        context->AddInitialMetadata("x-served-by", name);
        StartRead(&m_message);
    }
    void OnReadDone(bool ok) override
    {
        if (!ok) { // the client has sent all
            Finish(grpc::Status::OK);
            return;
        }
        StartWrite(&m_message);
    }
    void OnWriteDone(bool ok) override
    {
        if (!ok) {
            Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the answer could not be written"));
            return;
        }
        StartRead(&m_message);
    }
    void OnDone() override { delete this; }

private:
    grpc::ByteBuffer m_message;
};

class Service final : public grpc::CallbackGenericService
{
public:
    explicit Service(std::string name) : m_name(std::move(name)) {}
    grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* context) override
    {
        return new Echo(context, m_name);
    }

private:
    std::string m_name;
};

} // namespace

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: grpc_echo NAME ADDRESS:PORT [ADDRESS:PORT...]\n");
        return 2;
    }
    Service service(argv[1]);
    grpc::ServerBuilder builder;
    for (int i = 2; i < argc; ++i)
        builder.AddListeningPort(argv[i], grpc::InsecureServerCredentials());
    builder.RegisterCallbackGenericService(&service);
    const std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server) {
        std::fprintf(stderr, "grpc_echo: cannot listen\n");
        return 1;
    }
    std::fprintf(stderr, "grpc_echo %s: serving\n", argv[1]);
    server->Wait();
}
