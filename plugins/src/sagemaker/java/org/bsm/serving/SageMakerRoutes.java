package org.bsm.serving;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.pytorch.serve.servingsdk.Context;
import org.pytorch.serve.servingsdk.ModelServerEndpoint;
import org.pytorch.serve.servingsdk.annotations.Endpoint;
import org.pytorch.serve.servingsdk.annotations.helpers.EndpointTypes;
import org.pytorch.serve.servingsdk.http.Request;
import org.pytorch.serve.servingsdk.http.Response;

/**
 * In SageMaker mode only SageMaker's routes are served: TorchServe's other inference routes
 * (/predictions, /explanations, KServe's /v1 and /v2, workflow predictions, the metrics that
 * also answer on the inference port in multi-model mode) and its workflow management API
 * answer 404. Plugin endpoints take precedence over those routes of TorchServe's.
 * (/api-description is answered earlier in TorchServe's chain and stays: it describes the API
 * and holds no data. PUT /models/{name} scales workers and stays: owning "models" would take
 * over the register requests SageMaker sends, whose bodies plugins cannot read.)
 */
public final class SageMakerRoutes {
    private SageMakerRoutes() {}

    /** Answers 404 to every method. */
    public abstract static class NotServed extends ModelServerEndpoint {
        private static void refuse(Response rsp) throws IOException {
            rsp.setStatus(404);
            rsp.setContentType("application/json");
            String body = "{\"code\": 404, \"type\": \"Not Found\", \"message\": "
                    + "\"not served in SageMaker mode; use /invocations\"}\n";
            rsp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        }

        @Override
        public void doGet(Request req, Response rsp, Context ctx) throws IOException { refuse(rsp); }

        @Override
        public void doPost(Request req, Response rsp, Context ctx) throws IOException { refuse(rsp); }

        @Override
        public void doPut(Request req, Response rsp, Context ctx) throws IOException { refuse(rsp); }

        @Override
        public void doDelete(Request req, Response rsp, Context ctx) throws IOException { refuse(rsp); }
    }

    @Endpoint(urlPattern = "predictions", endpointType = EndpointTypes.INFERENCE, description = "not served")
    public static final class Predictions extends NotServed {}

    @Endpoint(urlPattern = "explanations", endpointType = EndpointTypes.INFERENCE, description = "not served")
    public static final class Explanations extends NotServed {}

    @Endpoint(urlPattern = "v1", endpointType = EndpointTypes.INFERENCE, description = "not served")
    public static final class KServeV1 extends NotServed {}

    @Endpoint(urlPattern = "v2", endpointType = EndpointTypes.INFERENCE, description = "not served")
    public static final class KServeV2 extends NotServed {}

    @Endpoint(urlPattern = "wfpredict", endpointType = EndpointTypes.INFERENCE, description = "not served")
    public static final class WorkflowPredictions extends NotServed {}

    @Endpoint(urlPattern = "metrics", endpointType = EndpointTypes.INFERENCE, description = "not served")
    public static final class InferencePortMetrics extends NotServed {}

    @Endpoint(urlPattern = "workflows", endpointType = EndpointTypes.MANAGEMENT, description = "not served")
    public static final class Workflows extends NotServed {}
}
