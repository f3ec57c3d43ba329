using System.Globalization;
using System.Net;
using System.Text;
using Ferry.Crds.V1Alpha1;

namespace Ferry.Operator.Insight.Report;

/// <summary>
/// Renders a <see cref="TrainingReport"/> as one self-contained HTML file: the curves per epoch as inline SVG charts
/// drawn by ScottPlot, the rules and whether they fired, lineage, timings and the attempt. No scripts, no external
/// resources; the markup is well-formed XML (polyglot HTML), so it can be checked with an XML parser.
/// </summary>
public static class TrainingReportHtml
{
    /// <summary>The report's file name, beside model.tar.gz.</summary>
    public const string FileName = "report.html";

    /// <summary>Chart size in CSS pixels.</summary>
    public const int ChartWidth = 720;

    /// <summary>Chart height in CSS pixels.</summary>
    public const int ChartHeight = 360;

    /// <summary>Series colours, in the order a chart's metrics are drawn (hex, as ScottPlot writes them into the SVG).</summary>
    public static readonly string[] Palette = ["#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F"];

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The report as HTML text.</summary>
    public static string Render(TrainingReport report)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n");
        html.Append("<title>").Append(E($"Training report: {report.JobName}")).Append("</title>\n");
        html.Append("<style>").Append(Style).Append("</style>\n</head>\n<body>\n");
        html.Append("<h1>").Append(E(report.JobName)).Append("</h1>\n");
        html.Append("<p class=\"outcome\">Attempt ").Append(report.Attempt.ToString(Inv)).Append(": ").Append(E(report.Outcome))
            .Append(" after ").Append(E(TrainingJobStatus.FormatDuration(report.TrainingEnded - report.TrainingStarted))).Append(" of training.</p>\n");

        html.Append("<h2>Metrics</h2>\n");
        var charts = report.Charts();
        if (charts.Count == 0)
        {
            html.Append("<p>No metric values were read from rank 0's output (check spec.metricDefinitions).</p>\n");
        }

        foreach (var (title, metrics) in charts)
        {
            AppendChart(html, report, title, metrics);
        }

        AppendRules(html, report);
        AppendLineage(html, report);
        AppendTimings(html, report);
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>Writes the report to <paramref name="path"/>.</summary>
    public static Task WriteAsync(TrainingReport report, string path, CancellationToken cancellationToken) =>
        File.WriteAllTextAsync(path, Render(report), new UTF8Encoding(false), cancellationToken);

    private static void AppendChart(StringBuilder html, TrainingReport report, string title, IReadOnlyList<string> metrics)
    {
        var plot = new ScottPlot.Plot();
        var xLabel = "epoch";
        html.Append("<figure class=\"chart\" data-chart=\"").Append(E(title)).Append("\">\n");
        var legend = new StringBuilder();
        for (var i = 0; i < metrics.Count; i++)
        {
            var (label, x, y) = report.Curve(metrics[i]);
            xLabel = label;
            var color = Palette[i % Palette.Length];
            var scatter = plot.Add.Scatter(x, y);
            scatter.Color = ScottPlot.Color.FromHex(color);
            scatter.LegendText = metrics[i];
            scatter.LineWidth = 2;
            legend.Append("<tr data-metric=\"").Append(E(metrics[i])).Append("\" data-color=\"").Append(color).Append("\"><th>")
                .Append(E(metrics[i])).Append("</th>");
            for (var p = 0; p < x.Length; p++)
            {
                legend.Append("<td data-x=\"").Append(Number(x[p])).Append("\">").Append(MetricText.Format(y[p])).Append("</td>");
            }

            legend.Append("</tr>\n");
        }

        plot.Title(title);
        plot.XLabel(xLabel);
        plot.ShowLegend();
        var svg = plot.GetSvgXml(ChartWidth, ChartHeight);
        // Inline: the XML declaration belongs to a stand-alone file only.
        var start = svg.IndexOf("<svg", StringComparison.Ordinal);
        html.Append(start >= 0 ? svg[start..] : svg).Append('\n');
        html.Append("<figcaption>").Append(E(title)).Append(" per ").Append(E(xLabel)).Append(" (the last value printed in each ")
            .Append(E(xLabel)).Append(").</figcaption>\n");
        html.Append("<table class=\"values\"><caption>Values plotted, by ").Append(E(xLabel)).Append("</caption>\n").Append(legend).Append("</table>\n");
        html.Append("</figure>\n");
    }

    private static void AppendRules(StringBuilder html, TrainingReport report)
    {
        html.Append("<h2>Rules</h2>\n");
        var rules = report.Rules();
        if (rules.Count == 0)
        {
            html.Append("<p>The job declares no rules (spec.rules).</p>\n");
            return;
        }

        html.Append("<table class=\"rules\">\n<tr><th>rule</th><th>type</th><th>metric</th><th>action</th><th>fired</th><th>evidence</th></tr>\n");
        foreach (var (rule, firing) in rules)
        {
            html.Append("<tr data-rule=\"").Append(E(TrainingRuleEvaluator.NameOf(rule))).Append("\" data-fired=\"").Append(firing is null ? "false" : "true").Append("\">")
                .Append("<td>").Append(E(TrainingRuleEvaluator.NameOf(rule))).Append("</td>")
                .Append("<td>").Append(rule.Type).Append("</td>")
                .Append("<td>").Append(E(rule.Metric)).Append("</td>")
                .Append("<td>").Append(rule.Action).Append("</td>")
                .Append("<td class=\"").Append(firing is null ? "ok\">no" : "fired\">yes").Append("</td>")
                .Append("<td>").Append(E(firing?.Evidence ?? "")).Append("</td></tr>\n");
        }

        html.Append("</table>\n");
    }

    private static void AppendLineage(StringBuilder html, TrainingReport report)
    {
        html.Append("<h2>Lineage</h2>\n<table class=\"lineage\">\n");
        Row(html, "backend", report.Context.Backend);
        Row(html, "image", report.Context.Image ?? "(the built trainer)");
        if (report.Context.Experiment is { } experiment)
        {
            Row(html, "experiment", report.Context.Trial is { } trial ? $"{experiment} / {trial}" : experiment);
        }

        Row(html, "replicas", report.Replicas.ToString(Inv));
        Row(html, "hyperparameters", report.HyperParameters.Count == 0 ? "(none)"
            : string.Join(", ", report.HyperParameters.OrderBy(h => h.Key, StringComparer.Ordinal).Select(h => $"{h.Key}={h.Value}")));
        foreach (var input in report.Inputs ?? [])
        {
            Row(html, $"input {input.Name}", $"{input.Objects.ToString(Inv)} objects, {input.Bytes.ToString(Inv)} bytes");
        }

        if (report.Model is { } model)
        {
            Row(html, "model", model.Uri);
            Row(html, "model size", $"{model.Digest.Size.ToString(Inv)} bytes");
            Row(html, "model sha256", model.Digest.Sha256);
        }
        else
        {
            Row(html, "model", "(not uploaded: the training process did not succeed, or the job has no spec.output)");
        }

        html.Append("</table>\n");
    }

    private static void AppendTimings(StringBuilder html, TrainingReport report)
    {
        html.Append("<h2>Timings</h2>\n<table class=\"timings\">\n");
        Row(html, "attempt", report.Attempt.ToString(Inv));
        Row(html, "training started", report.TrainingStarted.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", Inv));
        Row(html, "training ended", report.TrainingEnded.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", Inv));
        Row(html, "duration", TrainingJobStatus.FormatDuration(report.TrainingEnded - report.TrainingStarted));
        var epochs = report.Series.Values.SelectMany(s => s).Where(p => p.Epoch is not null).Select(p => p.Epoch!.Value).Distinct().Count();
        if (epochs > 0)
        {
            Row(html, "epochs seen", epochs.ToString(Inv));
        }

        Row(html, "outcome", report.Outcome);
        html.Append("</table>\n");
    }

    private static void Row(StringBuilder html, string name, string value) =>
        html.Append("<tr><th>").Append(E(name)).Append("</th><td>").Append(E(value)).Append("</td></tr>\n");

    private static string Number(double value) => value.ToString("R", Inv);

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private const string Style =
        "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}" +
        "h1{margin-bottom:0}.outcome{color:#555}table{border-collapse:collapse;margin:.5em 0}" +
        "th,td{border:1px solid #ddd;padding:.2em .5em;text-align:left;font-size:90%}" +
        "td.fired{color:#b00;font-weight:bold}td.ok{color:#070}figure.chart{margin:1em 0}" +
        "table.values{font-size:80%}table.values td{text-align:right}";
}
