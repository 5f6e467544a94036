package org.bsm.serving;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.pytorch.serve.servingsdk.Context;
import org.pytorch.serve.servingsdk.Model;
import org.pytorch.serve.servingsdk.ModelServerEndpoint;
import org.pytorch.serve.servingsdk.Worker;
import org.pytorch.serve.servingsdk.annotations.Endpoint;
import org.pytorch.serve.servingsdk.annotations.helpers.EndpointTypes;
import org.pytorch.serve.servingsdk.http.Request;
import org.pytorch.serve.servingsdk.http.Response;

/**
 * /ping that means "can predict": 200 only when every model has a worker with its model
 * loaded. TorchServe's own /ping counts a worker as healthy as soon as its process starts.
 * With no model registered, the answer follows bsm_ping_without_models (true in multi-model
 * mode, where the container is ready before SageMaker loads anything).
 */
@Endpoint(
        urlPattern = "ping",
        endpointType = EndpointTypes.INFERENCE,
        description = "200 when every model has a worker with its model loaded")
public class ReadyPing extends ModelServerEndpoint {

    @Override
    public void doGet(Request req, Response rsp, Context ctx) throws IOException {
        Map<String, Model> models = ctx.getModels();
        boolean ready = models.isEmpty()
                ? Boolean.parseBoolean(ctx.getConfig().getProperty("bsm_ping_without_models", "false"))
                : models.values().stream().allMatch(ReadyPing::hasLoadedWorker);
        String status = ready ? "Healthy" : "Unhealthy";
        rsp.setStatus(ready ? 200 : 503);
        rsp.setContentType("application/json");
        rsp.getOutputStream().write(("{\"status\": \"" + status + "\"}\n").getBytes(StandardCharsets.UTF_8));
    }

    private static boolean hasLoadedWorker(Model model) {
        return model.getModelWorkers().stream().anyMatch(Worker::isRunning);
    }
}
