package org.bsm.serving;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Stream;
import org.pytorch.serve.servingsdk.Context;
import org.pytorch.serve.servingsdk.ModelServerEndpoint;
import org.pytorch.serve.servingsdk.annotations.Endpoint;
import org.pytorch.serve.servingsdk.annotations.helpers.EndpointTypes;
import org.pytorch.serve.servingsdk.http.Request;
import org.pytorch.serve.servingsdk.http.Response;
import org.pytorch.serve.wlm.Model;
import org.pytorch.serve.wlm.ModelManager;
import org.pytorch.serve.wlm.WorkerState;
import org.pytorch.serve.wlm.WorkerThread;

/**
 * /ping, as bsm_ping_mode says. "ready" (the default, a single model): 200 only when every
 * model has a worker with its model loaded; TorchServe's own /ping counts a worker as healthy
 * as soon as its process starts. "server" (multi-model): 200 while the frontend runs, since
 * SageMaker replaces an instance whose /ping fails, and one model that cannot load must not
 * take the others with it. Either way the body names the models still loading and those that
 * failed, registered or not (a failed register request unregisters its model); a worker that
 * cannot load its model writes why to STATUS_DIR/<model>.json and removes it when it tries again.
 */
@Endpoint(
        urlPattern = "ping",
        endpointType = EndpointTypes.INFERENCE,
        description = "200 when the server can serve (bsm_ping_mode)")
public class ReadyPing extends ModelServerEndpoint {

    /** Under java.io.tmpdir, shared with the workers (handler/serving/torchserve/status.py). */
    static final String STATUS_DIR = "bsm-model-status";

    @Override
    public void doGet(Request req, Response rsp, Context ctx) throws IOException {
        boolean serverMode = "server".equals(ctx.getConfig().getProperty("bsm_ping_mode", "ready"));
        ModelManager manager = ModelManager.getInstance();
        Map<String, Model> models = manager.getDefaultModels(true);
        List<String> loading = new ArrayList<>();
        List<String> failed = new ArrayList<>();
        Set<String> registered = new HashSet<>();
        for (Model model : models.values()) {
            registered.add(fileName(model.getModelName()));
            List<WorkerThread> workers = manager.getWorkers(model.getModelVersionName());
            if (workers.stream().anyMatch(w -> w.getState() == WorkerState.WORKER_MODEL_LOADED)) {
                continue;
            }
            String error = readError(statusDir().resolve(fileName(model.getModelName())));
            // TorchServe stops restarting a worker once it is unhealthy: that model will not load.
            boolean givenUp = !workers.isEmpty() && workers.stream().noneMatch(WorkerThread::isHealthy);
            if (error != null) {
                failed.add(error);
            } else if (givenUp) {
                failed.add("{\"model\": " + quote(model.getModelName()) + ", \"error\": \"workers stopped\"}");
            } else {
                loading.add(quote(model.getModelName()));
            }
        }
        boolean ready = !models.isEmpty() && loading.isEmpty() && failed.isEmpty();
        failed.addAll(unregisteredErrors(registered)); // a register request that failed unregisters its model
        boolean healthy = serverMode || ready;
        String body = "{\"status\": \"" + (healthy ? "Healthy" : "Unhealthy") + "\""
                + ", \"loading\": [" + String.join(", ", loading) + "]"
                + ", \"failed\": [" + String.join(", ", failed) + "]}\n";
        rsp.setStatus(healthy ? 200 : 503);
        rsp.setContentType("application/json");
        rsp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
    }

    /** A JSON string of a model name (names may hold any character a URL path can). */
    private static String quote(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20 || c > 0x7e) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }

    private static Path statusDir() {
        return Paths.get(System.getProperty("java.io.tmpdir"), STATUS_DIR);
    }

    /** The status file's name of a model, as the worker names it. */
    private static String fileName(String modelName) {
        StringBuilder safe = new StringBuilder();
        for (char c : modelName.toCharArray()) {
            safe.append(Character.isLetterOrDigit(c) || c == '.' || c == '_' || c == '-' ? c : '_');
        }
        return safe + ".json";
    }

    /** What the workers of models no longer registered wrote, sorted by file name. */
    private static List<String> unregisteredErrors(Set<String> registered) {
        List<String> errors = new ArrayList<>();
        try (Stream<Path> files = Files.list(statusDir())) {
            files.filter(f -> f.getFileName().toString().endsWith(".json"))
                    .filter(f -> !registered.contains(f.getFileName().toString()))
                    .sorted()
                    .map(ReadyPing::readError)
                    .filter(Objects::nonNull)
                    .forEach(errors::add);
        } catch (IOException e) {
            // no status folder yet: no model has failed
        }
        return errors;
    }

    /** The JSON object a worker wrote when its model failed to load, or null (a link is not read). */
    private static String readError(Path file) {
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        try {
            String text = Files.readString(file, StandardCharsets.UTF_8).trim();
            return text.startsWith("{") && text.endsWith("}") ? text : null;
        } catch (IOException e) {
            return null;
        }
    }
}
