using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Insight;
using Ferry.Operator.Insight.Report;

namespace Ferry.Operator.Tests.Insight.Report;

/// <summary>The training report: well-formed self-contained HTML whose charts plot exactly the metric history, with the rules' verdicts.</summary>
public sealed partial class TrainingReportTests
{
    internal static readonly DateTimeOffset T0 = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    /// <summary>Three epochs as the trainer prints them: two loss lines per epoch, the validation metrics at its end.</summary>
    internal static TrainingReport Sample(IReadOnlyList<TrainingRule>? rules = null)
    {
        var recorder = new LiveMetricRecorder(MetricDefinition.Defaults.Select(d => new AgentMetricDefinition(d.Name, d.Regex)));
        string[] lines =
        [
            "epoch=1 step=100 train_loss=0.9000",
            "epoch=1 step=200 train_loss=0.7000 val_loss=0.7500 val_accuracy=0.7100",
            "epoch=2 step=300 train_loss=0.5000",
            "epoch=2 step=400 train_loss=0.4500 val_loss=0.5200 val_accuracy=0.8100",
            "some other line",
            "epoch=3 step=500 train_loss=0.4000",
            "epoch=3 step=600 train_loss=0.3500 val_loss=0.4400 val_accuracy=0.8600",
        ];
        for (var i = 0; i < lines.Length; i++)
        {
            recorder.Observe(lines[i], T0.AddSeconds(10 * (i + 1)));
        }

        return new TrainingReport(
            "fm <1>", 2, 2,
            new AgentReportContext("Local", "ghcr.io/x/trainer:1", "fmnist", "lr-01", rules),
            new Dictionary<string, string> { ["epochs"] = "3", ["lr"] = "0.01" },
            [new InputReport("train", 4, 1234)],
            ("file:///out/fm/output/model.tar.gz", new ModelDigest(2048, new string('a', 64))),
            recorder.Snapshot(), T0, T0.AddSeconds(75), "Succeeded");
    }

    internal static XDocument Parse(string html)
    {
        using var reader = XmlReader.Create(new StringReader(html), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        return XDocument.Load(reader);
    }

    private static readonly XNamespace Xhtml = "http://www.w3.org/1999/xhtml";
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    [Fact]
    public void The_report_is_well_formed_self_contained_and_has_one_chart_for_losses_and_one_for_accuracy()
    {
        var html = TrainingReportHtml.Render(Sample());
        var document = Parse(html);

        var figures = document.Descendants(Xhtml + "figure").ToList();
        Assert.Equal(["Loss", "Accuracy"], figures.Select(f => (string?)f.Attribute("data-chart")));
        Assert.All(figures, f => Assert.Single(f.Elements(Svg + "svg")));
        // Self-contained: nothing is fetched (no script, stylesheet link, image or frame source).
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(document.Descendants(), e => e.Attribute("src") is not null || e.Attribute("href") is not null);
        Assert.Contains("fm &lt;1&gt;", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Loss", "train_loss", new[] { 0.7, 0.45, 0.35 })]
    [InlineData("Loss", "val_loss", new[] { 0.75, 0.52, 0.44 })]
    [InlineData("Accuracy", "val_accuracy", new[] { 0.71, 0.81, 0.86 })]
    public void Each_chart_plots_the_last_value_of_each_epoch_from_the_history(string chart, string metric, double[] perEpoch)
    {
        var report = Sample();
        var history = report.History().Of(metric);
        // The expectation, recomputed from the history the rules see: the last value printed in each epoch.
        var expected = history.GroupBy(p => report.Series[metric].First(s => s.Time == p.Time).Epoch).Select(g => g.Last().Value).ToArray();
        Assert.Equal(perEpoch, expected);

        var figure = Parse(TrainingReportHtml.Render(report)).Descendants(Xhtml + "figure").Single(f => (string?)f.Attribute("data-chart") == chart);
        var row = figure.Descendants(Xhtml + "tr").Single(r => (string?)r.Attribute("data-metric") == metric);
        var cells = row.Elements(Xhtml + "td").ToList();
        Assert.Equal([1.0, 2.0, 3.0], cells.Select(c => double.Parse((string)c.Attribute("data-x")!, CultureInfo.InvariantCulture)));
        Assert.Equal(expected, cells.Select(c => double.Parse(c.Value, CultureInfo.InvariantCulture)));

        // The drawn line: the series' path (in its colour) has one vertex per epoch, x proportional to the epoch and
        // y proportional to the value (SVG y grows downwards).
        var color = (string)row.Attribute("data-color")!;
        var path = figure.Descendants(Svg + "path").First(p => (string?)p.Attribute("stroke") == color);
        var vertices = Vertex().Matches((string)path.Attribute("d")!).Select(m => (X: Number(m.Groups[1].Value), Y: Number(m.Groups[2].Value))).ToList();
        Assert.Equal(expected.Length, vertices.Count);
        var xScale = (vertices[1].X - vertices[0].X) / 1.0;
        var yScale = (vertices[1].Y - vertices[0].Y) / (expected[1] - expected[0]);
        Assert.True(xScale > 0 && yScale < 0, $"x scale {xScale}, y scale {yScale}");
        for (var i = 0; i < vertices.Count; i++)
        {
            Assert.Equal(vertices[0].X + xScale * i, vertices[i].X, 0.01);
            Assert.Equal(vertices[0].Y + yScale * (expected[i] - expected[0]), vertices[i].Y, 0.01);
        }
    }

    [Fact]
    public void The_rules_table_shows_the_evaluators_verdict_with_its_evidence()
    {
        TrainingRule[] rules =
        [
            new() { Name = "plateau", Type = TrainingRuleType.LossNotDecreasing, Metric = "val_loss", Patience = 2, Threshold = 0.05 },
            new() { Name = "target", Type = TrainingRuleType.MetricThreshold, Metric = "val_accuracy", Value = 0.85, Comparison = RuleComparison.GreaterThan, Action = RuleAction.None },
            new() { Type = TrainingRuleType.NaN },
        ];
        var report = Sample(rules);
        var rows = Parse(TrainingReportHtml.Render(report)).Descendants(Xhtml + "tr").Where(r => r.Attribute("data-rule") is not null).ToList();

        var history = report.History();
        var clock = new RuleClock(report.TrainingEnded, report.TrainingStarted);
        Assert.Equal(["plateau", "target", "NaN"], rows.Select(r => (string?)r.Attribute("data-rule")));
        for (var i = 0; i < rules.Length; i++)
        {
            var firing = TrainingRuleEvaluator.Evaluate(rules[i], history, clock);
            Assert.Equal(firing is null ? "false" : "true", (string?)rows[i].Attribute("data-fired"));
            Assert.Equal(firing?.Evidence ?? "", rows[i].Elements(Xhtml + "td").Last().Value);
        }

        // val_loss 0.75 → 0.52 → 0.44: the second drop is more than 0.05, so the plateau rule holds; 0.86 > 0.85 fires.
        Assert.Equal(["false", "true", "false"], rows.Select(r => (string?)r.Attribute("data-fired")));
    }

    [Fact]
    public void Lineage_and_timings_are_in_the_report()
    {
        var text = Parse(TrainingReportHtml.Render(Sample())).Root!.Value;
        Assert.Contains("epochs=3, lr=0.01", text, StringComparison.Ordinal);
        Assert.Contains("4 objects, 1234 bytes", text, StringComparison.Ordinal);
        Assert.Contains(new string('a', 64), text, StringComparison.Ordinal);
        Assert.Contains("fmnist / lr-01", text, StringComparison.Ordinal);
        Assert.Contains("2026-01-02 03:05:20 UTC", text, StringComparison.Ordinal);
        Assert.Contains("75s", text, StringComparison.Ordinal);
    }

    private static double Number(string text) => double.Parse(text, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"[ML]\s*(-?[0-9.]+)[ ,](-?[0-9.]+)")]
    private static partial Regex Vertex();
}
