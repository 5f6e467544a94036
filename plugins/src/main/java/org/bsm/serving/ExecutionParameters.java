package org.bsm.serving;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import org.pytorch.serve.servingsdk.Context;
import org.pytorch.serve.servingsdk.ModelServerEndpoint;
import org.pytorch.serve.servingsdk.annotations.Endpoint;
import org.pytorch.serve.servingsdk.annotations.helpers.EndpointTypes;
import org.pytorch.serve.servingsdk.http.Request;
import org.pytorch.serve.servingsdk.http.Response;

/** SageMaker batch transform's GET /execution-parameters, from values `serve` computed. */
@Endpoint(
        urlPattern = "execution-parameters",
        endpointType = EndpointTypes.INFERENCE,
        description = "Batch transform execution parameters")
public class ExecutionParameters extends ModelServerEndpoint {

    @Override
    public void doGet(Request req, Response rsp, Context ctx) throws IOException {
        Properties config = ctx.getConfig();
        String concurrent = config.getProperty("bsm_max_concurrent_transforms");
        if (concurrent == null) { // not configured: SageMaker falls back to its defaults on a 404
            rsp.setStatus(404);
            return;
        }
        String body = String.format(
                "{\"MaxConcurrentTransforms\": %d, \"BatchStrategy\": \"%s\", \"MaxPayloadInMB\": %d}%n",
                Integer.parseInt(concurrent),
                config.getProperty("bsm_batch_strategy", "MULTI_RECORD"),
                Integer.parseInt(config.getProperty("bsm_max_payload_mb", "6")));
        rsp.setStatus(200);
        rsp.setContentType("application/json");
        rsp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
    }
}
