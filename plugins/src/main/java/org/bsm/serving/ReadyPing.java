package org.bsm.serving;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
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
 * mode, where the container is ready before SageMaker loads anything). When a model cannot
 * load, its worker writes why to STATUS_DIR/<model>.json and the body carries it.
 */
@Endpoint(
        urlPattern = "ping",
        endpointType = EndpointTypes.INFERENCE,
        description = "200 when every model has a worker with its model loaded")
public class ReadyPing extends ModelServerEndpoint {

    /** Under java.io.tmpdir, shared with the workers (handler/serving/torchserve/handler.py). */
    static final String STATUS_DIR = "bsm-model-status";

    @Override
    public void doGet(Request req, Response rsp, Context ctx) throws IOException {
        Map<String, Model> models = ctx.getModels();
        List<String> errors = new ArrayList<>();
        boolean ready = models.isEmpty()
                ? Boolean.parseBoolean(ctx.getConfig().getProperty("bsm_ping_without_models", "false"))
                : true;
        for (Model model : models.values()) {
            if (!hasLoadedWorker(model)) {
                ready = false;
                String error = loadError(model.getModelName());
                if (error != null) {
                    errors.add(error);
                }
            }
        }
        String body = "{\"status\": \"" + (ready ? "Healthy" : "Unhealthy") + "\""
                + (errors.isEmpty() ? "" : ", \"errors\": [" + String.join(", ", errors) + "]") + "}\n";
        rsp.setStatus(ready ? 200 : 503);
        rsp.setContentType("application/json");
        rsp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
    }

    private static boolean hasLoadedWorker(Model model) {
        return model.getModelWorkers().stream().anyMatch(Worker::isRunning);
    }

    /** The JSON object a worker wrote when the model failed to load, or null. */
    private static String loadError(String modelName) {
        StringBuilder safe = new StringBuilder();  // as the worker names the file
        for (char c : modelName.toCharArray()) {
            safe.append(Character.isLetterOrDigit(c) || c == '.' || c == '_' || c == '-' ? c : '_');
        }
        Path file = Paths.get(System.getProperty("java.io.tmpdir"), STATUS_DIR, safe + ".json");
        try {
            String text = Files.readString(file, StandardCharsets.UTF_8).trim();
            return text.startsWith("{") && text.endsWith("}") ? text : null;
        } catch (IOException e) {
            return null;
        }
    }
}
